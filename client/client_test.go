package client_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/streambatch/streambatch/client"
)

var fast = client.WithRetry(client.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})

func items(n int) iter.Seq2[client.Item, error] {
	return func(yield func(client.Item, error) bool) {
		for i := range n {
			if !yield(client.Item{Index: i, Task: "t", Payload: client.StringPayload(fmt.Sprint(i))}, nil) {
				return
			}
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "ftp://x", "localhost:8080", "http://"} {
		if _, err := client.New(u, "key"); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := client.New("http://x", ""); err == nil {
		t.Error("empty key accepted")
	}
}

func TestResumeSendsOnlyMissingItems(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, 10)
	f.fail = []int{0} // the first attempt is cut after 2 items
	c, _ := client.New(f.srv.URL, "key", fast)
	var sent []int
	res, err := c.StreamItems(context.Background(), "batch_1", items(10), client.WithProgress(func(p client.Progress) {
		sent = append(sent, p.Attempt)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Sealed || res.Attempts != 2 || res.ItemsAccepted != 8 || res.ItemsDeduplicated != 0 {
		t.Fatalf("result %+v", res)
	}
	second := 0
	for _, a := range sent {
		if a == 2 {
			second++
		}
	}
	if second != 8 || f.count("GET /api/v3/batches/batch_1/missing") != 1 {
		t.Fatalf("second attempt sent %d items (want the 8 missing); missing asked %d times", second, f.count("GET"))
	}
}

func TestRetriesTransientStatusesAndHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	for _, status := range []int{408, 409, 429, 500, 503} {
		f := newFakeServer(t, 3)
		f.fail = []int{status}
		f.retryAfter = "0"
		c, _ := client.New(f.srv.URL, "key", fast)
		res, err := c.StreamItems(context.Background(), "batch_1", items(3))
		if err != nil || !res.Sealed || res.Attempts != 2 {
			t.Errorf("status %d: %+v %v", status, res, err)
		}
	}
}

func TestDoesNotRetryOtherClientErrors(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, 3)
	f.fail = []int{422, 422}
	c, _ := client.New(f.srv.URL, "key", fast)
	_, err := c.StreamItems(context.Background(), "batch_1", items(3))
	var api *client.APIError
	if !errors.As(err, &api) || api.StatusCode != 422 || api.Message != "failure 422" || api.Retryable() {
		t.Fatalf("err = %v", err)
	}
	if n := f.count("POST /api/v3/batches/batch_1/items"); n != 1 {
		t.Fatalf("%d requests for a 422", n)
	}
	// A wrong key is an APIError too, not retried.
	c, _ = client.New(f.srv.URL, "wrong", fast)
	if _, err := c.GetBatch(context.Background(), "batch_1"); !errors.As(err, &api) || api.StatusCode != 401 {
		t.Fatalf("err = %v", err)
	}
}

func TestNotSealedAfterAttempts(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, 10)
	c, _ := client.New(f.srv.URL, "key", fast)
	_, err := c.StreamItems(context.Background(), "batch_1", items(5))
	var ns *client.NotSealedError
	if !errors.As(err, &ns) || ns.EnqueuedCount != 5 || ns.ExpectedCount != 10 || ns.ItemsAccepted != 5 {
		t.Fatalf("err = %#v", err)
	}
}

func TestSourceErrorsStopAtOnce(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, 10)
	c, _ := client.New(f.srv.URL, "key", fast)
	boom := errors.New("disk on fire")
	src := func(yield func(client.Item, error) bool) {
		yield(client.Item{Index: 0, Task: "t"}, nil)
		yield(client.Item{}, boom)
	}
	_, err := c.StreamItems(context.Background(), "batch_1", src)
	var se *client.SourceError
	if !errors.As(err, &se) || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if n := f.count("POST /api/v3/batches/batch_1/items"); n > 1 {
		t.Fatalf("%d requests: a source error was retried", n)
	}
}

func TestContextCancelStops(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, 10)
	f.fail = []int{503, 503, 503}
	f.retryAfter = "60"
	c, _ := client.New(f.srv.URL, "key", fast)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.StreamItems(ctx, "batch_1", items(10)); err == nil {
		t.Fatal("want an error")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("a cancelled context did not stop the Retry-After wait")
	}
}

func TestMultiLinePayloadStaysOnOneLine(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, 2)
	c, _ := client.New(f.srv.URL, "key", fast)
	res, err := c.StreamItems(context.Background(), "batch_1", client.Items([]client.Item{
		{Index: 0, Task: "t", Payload: []byte("{\n  \"a\": \"x\\ny\"\r\n}")},
		{Index: 1, Task: "t", Options: []byte("{\n\"tags\": [\"a\"]\n}")},
	}))
	if err != nil || !res.Sealed || res.ItemsAccepted != 2 {
		t.Fatalf("%+v %v", res, err)
	}
}
