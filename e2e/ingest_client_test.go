package e2e

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/wire"
)

func goItems(n int) []client.Item {
	out := make([]client.Item, n)
	for i := range out {
		out[i] = client.Item{Index: i, Task: "go", Payload: client.StringPayload(randomText(uint64(i), 200))}
	}
	return out
}

// The Go client against the real server, its first Phase 2 attempt cut off
// mid-stream: the retry asks for the missing indexes and sends only those;
// the batch seals with exactly N runs. (The backoff gives the server time
// to finish signalling the cut request's chunks and the workflow time to
// record them: /missing reports what the workflow has processed.)
func TestGoClientResumesWithMissingIndexes(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	proxy := newCutProxy(t, s.URL, 1500)
	c, err := client.New(proxy.srv.URL, key, client.WithRetry(client.RetryPolicy{MaxAttempts: 5, InitialBackoff: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 3000
	sent := map[int]int{} // attempt → items written
	res, err := c.TriggerBatch(ctx, wire.CreateBatchRequest{RunCount: n}, client.Items(goItems(n)),
		client.WithProgress(func(p client.Progress) { sent[p.Attempt] = p.Items }))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Batch.ID
	if cuts, batch, _ := proxy.stats(); cuts != 1 || batch != id {
		t.Fatalf("proxy cut %d requests of %q", cuts, batch)
	}
	if !res.Stream.Sealed || res.Stream.Attempts < 2 || res.Stream.ItemsDeduplicated != 0 {
		t.Fatalf("stream %+v", res.Stream)
	}
	// The cut attempt got no answer, so only the retry's counts are known:
	// it sent (and the server accepted) only what was missing.
	if last := sent[res.Stream.Attempts]; last >= n || last == 0 || res.Stream.ItemsAccepted != last {
		t.Fatalf("the retry sent %d items (of %d), accepted %d in all: %v", last, n, res.Stream.ItemsAccepted, sent)
	}
	t.Logf("attempts %d; items written per attempt %v", res.Stream.Attempts, sent)

	b, err := c.GetBatch(ctx, id)
	if err != nil || !b.Sealed || b.Status != "PROCESSING" || b.EnqueuedCount != n {
		t.Fatalf("GetBatch: %+v %v", b, err)
	}
	count := 0
	for r, err := range c.Runs(ctx, id) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Index != count {
			t.Fatalf("run %d has index %d", count, r.Index)
		}
		count++
	}
	if count != n {
		t.Fatalf("Runs yielded %d", count)
	}
	if m, err := c.MissingIndexes(ctx, id, 0); err != nil || len(m.Missing) != 0 || m.AcceptedCount != n {
		t.Fatalf("missing: %+v %v", m, err)
	}
}

func TestGoClientErrorsAndAbort(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	ctx := context.Background()
	c, _ := client.New(s.URL, key)
	b, err := c.CreateBatch(ctx, wire.CreateBatchRequest{RunCount: 4, IdempotencyKey: "go-client"})
	if err != nil || b.PublicAccessToken == "" {
		t.Fatalf("create: %+v %v", b, err)
	}
	again, err := c.CreateBatch(ctx, wire.CreateBatchRequest{RunCount: 4, IdempotencyKey: "go-client"})
	if err != nil || !again.IsCached || again.ID != b.ID {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	_, err = c.StreamItems(ctx, b.ID, client.Items([]client.Item{{Index: 9, Task: "t"}}))
	var api *client.APIError
	if !errors.As(err, &api) || api.StatusCode != http.StatusUnprocessableEntity || api.Retryable() {
		t.Fatalf("out-of-range index: %v", err)
	}
	// Two of four items: not sealed after the attempts.
	fewer, _ := client.New(s.URL, key, client.WithRetry(client.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond}))
	_, err = fewer.StreamItems(ctx, b.ID, client.Items(goItems(2)))
	var ns *client.NotSealedError
	if !errors.As(err, &ns) || ns.EnqueuedCount != 2 || ns.ExpectedCount != 4 {
		t.Fatalf("want NotSealedError 2/4, got %v", err)
	}
	aborted, err := c.AbortBatch(ctx, b.ID, "go client test")
	if err != nil || aborted.Status != "ABORTED" || aborted.AbortReason == nil || *aborted.AbortReason != "go client test" {
		t.Fatalf("abort: %+v %v", aborted, err)
	}
	if _, err := c.GetBatch(ctx, "batch_zzzzzzzzzzzzzzzzzzzzzzzz"); !errors.As(err, &api) || api.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown batch: %v", err)
	}
}
