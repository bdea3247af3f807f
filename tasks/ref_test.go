package tasks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// registry keeps the activity functions registered on it, by name.
type registry map[string]any

func (r registry) RegisterActivityWithOptions(a any, o activity.RegisterOptions) { r[o.Name] = a }

// refServer answers /ok with a superjson payload, /gone with 410 and
// /busy with 503.
func refServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"json":{"name":"by-ref"},"meta":{}}`))
		case "/gone":
			http.Error(w, `{"error":"run finished"}`, http.StatusGone)
		default:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func refEnvelope(url string) Envelope {
	return Envelope{ID: "run_x_1", PayloadType: PayloadTypeStore, PayloadURL: url, PayloadRefType: PayloadTypeSuperJSON}
}

func TestRegisterRunSeesAReferenceResolved(t *testing.T) {
	t.Parallel()
	srv := refServer(t)
	reg := registry{}
	var seen Envelope
	RegisterRun(reg, "t", func(_ context.Context, run *Run) (int, error) {
		seen = run.Envelope
		return 0, nil
	}, Options{HTTPClient: srv.Client()})
	fn := reg["t"].(func(context.Context, Envelope) (int, error))
	if _, err := fn(context.Background(), refEnvelope(srv.URL+"/ok")); err != nil {
		t.Fatal(err)
	}
	if seen.Payload != `{"json":{"name":"by-ref"},"meta":{}}` || seen.PayloadType != PayloadTypeSuperJSON || seen.PayloadURL != "" || seen.PayloadRefType != "" {
		t.Fatalf("the task saw %+v, want the payload inline with its own type", seen)
	}
}

func TestRegisterDecodesAReference(t *testing.T) {
	t.Parallel()
	srv := refServer(t)
	reg := registry{}
	type in struct {
		Name string `json:"name"`
	}
	Register(reg, "t", func(_ context.Context, v in) (string, error) { return v.Name, nil }, Options{HTTPClient: srv.Client()})
	fn := reg["t"].(func(context.Context, Envelope) (string, error))
	if got, err := fn(context.Background(), refEnvelope(srv.URL+"/ok")); err != nil || got != "by-ref" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestAReferenceRefusedForGoodFailsTheRunAtOnce(t *testing.T) {
	t.Parallel()
	srv := refServer(t)
	var app *temporal.ApplicationError
	run := NewRun(context.Background(), refEnvelope(srv.URL+"/gone"), srv.Client())
	if err := run.resolveRef(context.Background()); !errors.As(err, &app) || !app.NonRetryable() {
		t.Fatalf("410: %v, want a non-retryable error", err)
	}
	run = NewRun(context.Background(), refEnvelope(srv.URL+"/busy"), srv.Client())
	if err := run.resolveRef(context.Background()); err == nil || (errors.As(err, &app) && app.NonRetryable()) {
		t.Fatalf("503: %v, want a retryable error", err)
	}
}

func TestAnInlinePayloadIsNotFetched(t *testing.T) {
	t.Parallel()
	env := Envelope{ID: "run_x_1", Payload: `{"a":1}`, PayloadType: PayloadTypeJSON}
	run := NewRun(context.Background(), env, &http.Client{Transport: failingTransport{}})
	if err := run.resolveRef(context.Background()); err != nil || !reflect.DeepEqual(run.Envelope, env) {
		t.Fatalf("inline run changed: %+v, %v", run.Envelope, err)
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no request expected")
}
