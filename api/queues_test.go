package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// fakeQueues is an in-memory queueStore of one environment (testEnv):
// queues by name, and the batches waiting for each.
type fakeQueues struct {
	mu      sync.Mutex
	queues  map[string]store.Queue
	waiters map[string][]store.QueueWaiter
}

func newFakeQueues() *fakeQueues {
	return &fakeQueues{queues: map[string]store.Queue{}, waiters: map[string][]store.QueueWaiter{}}
}

func (f *fakeQueues) get(name string) store.Queue {
	q, ok := f.queues[name]
	if !ok {
		q = store.Queue{ID: "queue_" + name, Name: name}
	}
	return q
}

func (f *fakeQueues) GetQueue(_ context.Context, env int64, name string) (store.Queue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.get(name), nil
}

func (f *fakeQueues) QueueNameByID(_ context.Context, env int64, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, q := range f.queues {
		if q.ID == id && env == testEnv.ID {
			return n, nil
		}
	}
	return "", store.ErrNotFound
}

func (f *fakeQueues) ListQueues(_ context.Context, env int64, skip, limit int) ([]store.Queue, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.queues {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []store.Queue
	for _, n := range names[min(skip, len(names)):min(skip+limit, len(names))] {
		out = append(out, f.queues[n])
	}
	return out, len(names), nil
}

func (f *fakeQueues) take(name string) []store.QueueWaiter {
	w := f.waiters[name]
	delete(f.waiters, name)
	return w
}

func (f *fakeQueues) PauseQueue(_ context.Context, env int64, name string, paused bool) (store.Queue, []store.QueueWaiter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.get(name)
	q.Paused = paused
	f.queues[name] = q
	if paused {
		return q, nil, nil
	}
	return q, f.take(name), nil
}

func (f *fakeQueues) OverrideQueueLimit(_ context.Context, env int64, name string, limit *int) (store.Queue, []store.QueueWaiter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.get(name)
	q.Override, q.OverriddenAt = limit, nil
	if limit != nil {
		at := time.Unix(1_700_000_000, 0).UTC()
		q.OverriddenAt = &at
	}
	f.queues[name] = q
	return q, f.take(name), nil
}

// fakeWaker records the batches woken and the hint's first index.
type fakeWaker struct {
	mu   sync.Mutex
	woke map[string]int
}

func (w *fakeWaker) Wake(_ context.Context, batchID string, hint runswf.Hint) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.woke == nil {
		w.woke = map[string]int{}
	}
	w.woke[batchID] = *hint.From
	return nil
}

func newQueueFixture() (*handlerFixture, *fakeQueues, *fakeWaker) {
	f := newHandlerFixture()
	q, w := newFakeQueues(), &fakeWaker{}
	f.srv.queues, f.srv.waker = q, w
	return f, q, w
}

func decodeQueue(t *testing.T, a answer) wire.TriggerDevQueue {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("answer %d %s", a.status, a.body)
	}
	var q wire.TriggerDevQueue
	if err := json.Unmarshal([]byte(a.body), &q); err != nil {
		t.Fatal(err)
	}
	return q
}

// queues.retrieve names a queue by type: a task's own queue by its task
// identifier, a custom queue by name, any queue with a row by id. The
// answer is a V1 QueueItem whose absent limits are null, not missing.
func TestQueueRetrieve(t *testing.T) {
	t.Parallel()
	f, qs, _ := newQueueFixture()
	ten := 10
	qs.queues["task/send-email"] = store.Queue{ID: "queue_abc", Name: "task/send-email", Base: &ten, Running: 3, Queued: 7}

	t.Run("task by identifier", func(t *testing.T) {
		q := decodeQueue(t, f.do("GET", "/api/v1/queues/send-email?type=task", testKey, "", ""))
		if q.ID != "queue_abc" || q.Name != "send-email" || q.Type != "task" || q.Running != 3 || q.Queued != 7 ||
			q.ConcurrencyLimit == nil || *q.ConcurrencyLimit != 10 || q.Version != "V1" || q.Concurrency.Base == nil {
			t.Fatalf("queue %+v", q)
		}
	})
	t.Run("by id", func(t *testing.T) {
		if q := decodeQueue(t, f.do("GET", "/api/v1/queues/queue_abc?type=id", testKey, "", "")); q.Name != "send-email" {
			t.Fatalf("queue %+v", q)
		}
	})
	t.Run("custom with a slash, nulls present", func(t *testing.T) {
		a := f.do("GET", "/api/v1/queues/tenant%252Fa?type=custom", testKey, "", "")
		if q := decodeQueue(t, a); q.Name != "tenant/a" || q.Type != "custom" || q.ConcurrencyLimit != nil {
			t.Fatalf("queue %+v", q)
		}
		var raw map[string]json.RawMessage
		_ = json.Unmarshal([]byte(a.body), &raw)
		if string(raw["concurrencyLimit"]) != "null" {
			t.Fatalf("concurrencyLimit %s, want null (the schema is nullable, not optional): %s", raw["concurrencyLimit"], a.body)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		wantRefused(t, f.do("GET", "/api/v1/queues/queue_nope?type=id", testKey, "", ""), http.StatusNotFound, "Queue not found")
	})
	t.Run("bad type", func(t *testing.T) {
		wantRefused(t, f.do("GET", "/api/v1/queues/x?type=global", testKey, "", ""), http.StatusBadRequest, "type must be")
	})
	t.Run("bad custom name", func(t *testing.T) {
		wantRefused(t, f.do("GET", "/api/v1/queues/a%20b?type=custom", testKey, "", ""), http.StatusBadRequest, "custom queue's name")
	})
}

// Reading queues takes an API key or a token with read:queues (or
// read:all); changing them takes an API key.
func TestQueueRoutesAuthorisation(t *testing.T) {
	t.Parallel()
	f, _, _ := newQueueFixture()
	if a := f.do("GET", "/api/v1/queues", token(t, testEnv, testKeyID, "read:queues"), "", ""); a.status != http.StatusOK {
		t.Fatalf("read:queues token: %d %s", a.status, a.body)
	}
	wantRefused(t, f.do("GET", "/api/v1/queues", token(t, testEnv, testKeyID, "read:runs"), "", ""), http.StatusForbidden, "read:queues")
	wantRefused(t, f.do("POST", "/api/v1/queues/t/pause", token(t, testEnv, testKeyID, "read:all"), "application/json",
		`{"type":"task","action":"pause"}`), http.StatusUnauthorized, "secret API key")
	wantRefused(t, f.do("GET", "/api/v1/queues", "", "", ""), http.StatusUnauthorized, "")
}

// queues.pause pauses a queue; queues.resume resumes it and wakes the
// batches waiting for it from their first waiting run.
func TestQueuePauseResume(t *testing.T) {
	t.Parallel()
	f, qs, w := newQueueFixture()
	if q := decodeQueue(t, f.do("POST", "/api/v1/queues/t/pause", testKey, "application/json", `{"type":"task","action":"pause"}`)); !q.Paused {
		t.Fatalf("after pause: %+v", q)
	}
	qs.waiters["task/t"] = []store.QueueWaiter{{BatchID: "batch_w", From: 42}}
	if q := decodeQueue(t, f.do("POST", "/api/v1/queues/t/pause", testKey, "application/json", `{"type":"task","action":"resume"}`)); q.Paused {
		t.Fatalf("after resume: %+v", q)
	}
	if w.woke["batch_w"] != 42 {
		t.Fatalf("resume woke %v, want batch_w from 42", w.woke)
	}
	wantRefused(t, f.do("POST", "/api/v1/queues/t/pause", testKey, "application/json", `{"type":"task","action":"stop"}`),
		http.StatusBadRequest, `action must be "pause" or "resume"`)
	wantRefused(t, f.do("POST", "/api/v1/queues/t/pause", testKey, "application/json", `[1]`), http.StatusBadRequest, "Invalid JSON")
}

// overrideConcurrencyLimit sets the limit in force (0 included), refusing
// what is not an integer from 0 to 100000; resetConcurrencyLimit clears
// it. Both wake the queue's waiters.
func TestQueueOverrideAndResetLimit(t *testing.T) {
	t.Parallel()
	f, qs, w := newQueueFixture()
	for _, bad := range []string{`{"type":"custom"}`, `{"type":"custom","concurrencyLimit":-1}`,
		`{"type":"custom","concurrencyLimit":2.5}`, `{"type":"custom","concurrencyLimit":100001}`, `{"type":"custom","concurrencyLimit":"5"}`} {
		wantRefused(t, f.do("POST", "/api/v1/queues/q/concurrency/override", testKey, "application/json", bad),
			http.StatusBadRequest, "concurrencyLimit must be an integer from 0 to 100000")
	}
	qs.waiters["q"] = []store.QueueWaiter{{BatchID: "batch_w", From: 0}}
	q := decodeQueue(t, f.do("POST", "/api/v1/queues/q/concurrency/override", testKey, "application/json", `{"type":"custom","concurrencyLimit":0}`))
	if q.ConcurrencyLimit == nil || *q.ConcurrencyLimit != 0 || q.Concurrency.Override == nil || q.Concurrency.OverriddenAt == nil {
		t.Fatalf("after override: %+v", q)
	}
	if _, ok := w.woke["batch_w"]; !ok {
		t.Fatalf("override woke %v", w.woke)
	}
	q = decodeQueue(t, f.do("POST", "/api/v1/queues/q/concurrency/reset", testKey, "application/json", `{"type":"custom"}`))
	if q.ConcurrencyLimit != nil || q.Concurrency.Override != nil {
		t.Fatalf("after reset: %+v", q)
	}
}

// queues.list pages the queues by name with trigger.dev's offset
// pagination; a page parameter out of range is refused.
func TestQueueList(t *testing.T) {
	t.Parallel()
	f, qs, _ := newQueueFixture()
	for _, n := range []string{"a", "b", "c"} {
		qs.queues[n] = store.Queue{ID: "queue_" + n, Name: n}
	}
	a := f.do("GET", "/api/v1/queues?page=2&perPage=2", testKey, "", "")
	var page wire.TriggerDevQueuePage
	if err := json.Unmarshal([]byte(a.body), &page); err != nil || a.status != http.StatusOK {
		t.Fatalf("answer %d %s (%v)", a.status, a.body, err)
	}
	if len(page.Data) != 1 || page.Data[0].Name != "c" || page.Pagination != (wire.TriggerDevOffsetPages{CurrentPage: 2, TotalPages: 2, Count: 3}) {
		t.Fatalf("page %+v", page)
	}
	wantRefused(t, f.do("GET", "/api/v1/queues?perPage=101", testKey, "", ""), http.StatusBadRequest, "perPage must be an integer from 1 to 100")
	wantRefused(t, f.do("GET", "/api/v1/queues?page=0", testKey, "", ""), http.StatusBadRequest, "page must be")
}
