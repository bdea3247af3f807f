package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streambatch/streambatch/wire"
)

// Item idempotency keys on the real stack: two batches streamed at once
// through the API whose items share keys (and two items of one batch with
// the same key) make one run per key, executed once by the task worker;
// each batch completes and names that run; a reset key makes a new run.
func TestItemIdempotencyKeysExecuteOnce(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	tw := startTaskWorker(t, s, env)

	const n = 20
	body := func(batch int) []byte {
		var b bytes.Buffer
		for i := range n {
			switch {
			case i < 10: // keys k0…k9 in both batches
				fmt.Fprintf(&b, `{"index":%d,"task":"echo","payload":{"n":%d},"options":{"idempotencyKey":"k%d"}}`+"\n", i, 100*batch+i, i)
			case i < 12: // one key twice in each batch
				fmt.Fprintf(&b, `{"index":%d,"task":"echo","payload":{"n":%d},"options":{"idempotencyKey":"twice"}}`+"\n", i, 100*batch+i)
			default:
				fmt.Fprintf(&b, `{"index":%d,"task":"echo","payload":{"n":%d}}`+"\n", i, 100*batch+i)
			}
		}
		return b.Bytes()
	}
	ids := []string{s.mustCreate(t, key, n), s.mustCreate(t, key, n)}
	var wg sync.WaitGroup
	for k, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, res, raw := s.stream(t, key, id, body(k)); code != 200 || !res.Sealed {
				t.Errorf("stream %s: %d %s", id, code, raw)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, id := range ids {
		if b := s.waitBatch(t, key, id, 2*time.Minute); b.Status != "COMPLETED" {
			t.Fatalf("batch %s: %+v", id, b)
		}
	}

	// owner: what each index of each batch names (its own run, or the
	// run of its key).
	named := func(id string) []string {
		var b wire.TriggerDevBatch
		s.getJSON(t, key, "/api/v1/batches/"+id, &b)
		return b.Runs
	}
	runs := [][]string{named(ids[0]), named(ids[1])}
	step(t, "each key names one run, executed once; the batches list it", func(t *testing.T) {
		for i := range n {
			a, b := runs[0][i], runs[1][i]
			switch {
			case i < 10:
				if a != b {
					t.Fatalf("index %d: the batches name %s and %s", i, a, b)
				}
			case i < 12:
				if a != runs[0][10] || b != runs[0][10] {
					t.Fatalf("index %d of the key used twice: %s and %s, want %s", i, a, b, runs[0][10])
				}
			default:
				if a == b {
					t.Fatalf("unkeyed index %d: one run %s in both batches", i, a)
				}
			}
			if tw.executions(a) != 1 || tw.executions(b) != 1 {
				t.Fatalf("index %d: %s executed %d time(s), %s %d", i, a, tw.executions(a), b, tw.executions(b))
			}
		}
		// 10 + 1 keyed runs and 8 + 8 unkeyed ones executed, no more.
		if got := tw.total(); got != 27 {
			t.Fatalf("%d executions, want 27", got)
		}
	})
	step(t, "the native runs page shows the CACHED rows", func(t *testing.T) {
		cached := 0
		for _, id := range ids {
			for _, r := range s.runs(t, key, id) {
				if r.Status == "CACHED" {
					cached++
					if r.CachedRunID == "" || r.CachedRunID == r.ID {
						t.Fatalf("CACHED row %+v", r)
					}
				}
			}
		}
		// 40 items, 27 runs of their own (above): 13 name another's.
		if cached != 13 {
			t.Fatalf("%d CACHED rows, want 13", cached)
		}
	})
	step(t, "a reset key makes a new run", func(t *testing.T) {
		r := s.call(t, http.MethodPost, "/api/v1/idempotencyKeys/k0/reset", key, strings.NewReader(`{"taskIdentifier":"echo"}`), "application/json", nil)
		if r.StatusCode != 200 || string(r.Body) != `{"id":"k0"}` {
			t.Fatalf("reset: %s", r)
		}
		id := s.mustCreate(t, key, 1)
		if code, res, raw := s.stream(t, key, id, []byte(`{"index":0,"task":"echo","payload":{"n":7},"options":{"idempotencyKey":"k0"}}`+"\n")); code != 200 || !res.Sealed {
			t.Fatalf("stream: %d %s", code, raw)
		}
		s.waitBatch(t, key, id, 2*time.Minute)
		if got := named(id)[0]; got == runs[0][0] || tw.executions(got) != 1 {
			t.Fatalf("after the reset the item names %s (executed %d time(s))", got, tw.executions(got))
		}
		r = s.call(t, http.MethodPost, "/api/v1/idempotencyKeys/k0/reset", key, strings.NewReader(`{"taskIdentifier":"other"}`), "application/json", nil)
		if r.StatusCode != 404 {
			t.Fatalf("reset of another task's key: %s", r)
		}
	})
}
