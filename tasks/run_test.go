package tasks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.temporal.io/sdk/temporal"
)

func TestDecodePayloads(t *testing.T) {
	t.Parallel()
	stored := `{"name":"stored"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/obj" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(stored))
	}))
	defer srv.Close()
	type in struct {
		Name string `json:"name"`
	}
	cases := []struct {
		env  Envelope
		want string
	}{
		{Envelope{Payload: `{"name":"plain"}`, PayloadType: PayloadTypeJSON}, "plain"},
		{Envelope{Payload: `{"json":{"name":"super"},"meta":{}}`, PayloadType: PayloadTypeSuperJSON}, "super"},
		{Envelope{Payload: "packets/dev/x", PayloadType: PayloadTypeStore, PayloadURL: srv.URL + "/obj"}, "stored"},
		{Envelope{PayloadType: PayloadTypeJSON}, ""},
	}
	for _, c := range cases {
		var v in
		if err := NewRun(context.Background(), c.env, srv.Client()).Decode(context.Background(), &v); err != nil || v.Name != c.want {
			t.Errorf("%+v: got %q, %v", c.env, v.Name, err)
		}
	}
	// A payload that is not the JSON the task expects fails the run at once.
	var v in
	err := NewRun(context.Background(), Envelope{Payload: `[1]`, PayloadType: PayloadTypeJSON}, nil).Decode(context.Background(), &v)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !app.NonRetryable() {
		t.Fatalf("bad payload: %v", err)
	}
	// A stored payload that cannot be fetched is a retryable error.
	_, err = NewRun(context.Background(), Envelope{PayloadType: PayloadTypeStore, PayloadURL: srv.URL + "/missing"}, srv.Client()).Payload(context.Background())
	if err == nil || errors.As(err, &app) {
		t.Fatalf("missing object: %v", err)
	}
}

func TestTaskQueue(t *testing.T) {
	t.Parallel()
	if got := TaskQueue("prod", ""); got != "runs.prod" {
		t.Fatal(got)
	}
	if got := TaskQueue("prod", "emails"); got != "runs.prod.emails" {
		t.Fatal(got)
	}
}
