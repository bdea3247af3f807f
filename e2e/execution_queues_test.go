package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/streambatch/streambatch/tasks"
)

// gauge is a task worker's own count of the executions in progress of one
// queue's task, and the most it saw at once: sampled where the runs
// execute, not read back from PostgreSQL.
type gauge struct {
	mu       sync.Mutex
	now, top int
	// ended lists the concurrencyKey of each execution, in the order they
	// ended.
	ended []string
}

func (g *gauge) enter() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now++
	g.top = max(g.top, g.now)
}

func (g *gauge) leave(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now--
	g.ended = append(g.ended, key)
}

func (g *gauge) peak() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.top
}

// queueWait bounds the wait for a batch of a limited queue: its runs go
// through the queue's slots a few at a time, each slot turning over once
// per outcome recorded and run dispatched (a fraction of a second on a
// quiet machine, seconds on a loaded one), so hundreds of runs take
// minutes there.
const queueWait = 15 * time.Minute

type limitedIn struct {
	Key string `json:"key"`
}

// startQueueWorker serves task "limited" on queue of env: each execution
// holds for hold, counted by g. Its slots (200) exceed any batch's window,
// so only the queue's limit can keep executions below the window.
func startQueueWorker(t *testing.T, s *stack, env, queue string, g *gauge, hold time.Duration) {
	t.Helper()
	w := tasks.NewWorker(s.app.Temporal, env, queue, sdkworker.Options{MaxConcurrentActivityExecutionSize: 200})
	tasks.Register(w, "limited", func(ctx context.Context, in limitedIn) (string, error) {
		g.enter()
		defer g.leave(in.Key)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(hold):
		}
		return in.Key, nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// queueItems returns n NDJSON lines of task "limited" on queue with limit
// (and key, when not empty), indexes from first on.
func queueItems(first, n int, queue string, limit int, key string) string {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		opts := fmt.Sprintf(`{"queue":{"name":%q,"concurrencyLimit":%d}}`, queue, limit)
		if key != "" {
			opts = fmt.Sprintf(`{"queue":{"name":%q,"concurrencyLimit":%d},"concurrencyKey":%q}`, queue, limit, key)
		}
		fmt.Fprintf(&b, `{"index":%d,"task":"limited","payload":{"key":%q},"options":%s}`+"\n", i, key, opts)
	}
	return b.String()
}

// Three batches of 200 runs on one queue with concurrencyLimit 5, each
// dispatched by its own BatchRuns (window 100): the task worker never has
// more than 5 of them executing at once, and all of them complete.
func TestQueueLimitHoldsAcrossBatches(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	g := &gauge{}
	startQueueWorker(t, s, env, "limited-api", g, 20*time.Millisecond)

	ids := make([]string, 3)
	for k := range ids {
		ids[k] = s.mustCreate(t, key, 200)
	}
	for _, id := range ids {
		if code, res, raw := s.stream(t, key, id, []byte(queueItems(0, 200, "limited-api", 5, ""))); code != 200 || !res.Sealed {
			t.Fatalf("stream %s: %d %s", id, code, raw)
		}
	}
	for k, id := range ids {
		b := s.waitBatch(t, key, id, queueWait)
		if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != 200 {
			t.Fatalf("batch %s: %+v", id, b)
		}
		if k == len(ids)-1 { // streamed last: the one that waits most
			recordHistory(t, s, id+"-runs", "batch_runs_queue_limit_v2")
		}
	}
	top := g.peak()
	if top > 5 || top == 0 {
		t.Fatalf("the task worker saw %d runs of a queue with concurrencyLimit 5 executing at once", top)
	}
	t.Logf("at most %d of the queue's runs executed at once", top)
}

// Two concurrencyKeys of one queue with limit 5 per key, in one batch:
// 500 runs of key "big" ahead of 5 of key "small" in index order. The
// small key's runs are not stuck behind the big key's backlog: they all
// end before the big key's last run does (here, before half of them did).
func TestQueueKeysShareFairly(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	g := &gauge{}
	startQueueWorker(t, s, env, "per-tenant", g, 10*time.Millisecond)

	id := s.mustCreate(t, key, 505)
	body := queueItems(0, 500, "per-tenant", 5, "big") + queueItems(500, 5, "per-tenant", 5, "small")
	if code, res, raw := s.stream(t, key, id, []byte(body)); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	if b := s.waitBatch(t, key, id, queueWait); b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != 505 {
		t.Fatalf("batch %+v", b)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	big, small := 0, 0
	for _, k := range g.ended {
		switch k {
		case "big":
			big++
		case "small":
			small++
			if small == 5 && big >= 250 {
				t.Fatalf("the small key's last run ended after %d of the big key's 500", big)
			}
		}
	}
	if small != 5 || big != 500 {
		t.Fatalf("executions ended: %d big, %d small", big, small)
	}
	for k, key := range g.ended {
		if key == "small" {
			t.Logf("small-key run ended %d-th of 505", k+1)
		}
	}
	if g.top > 10 {
		t.Fatalf("%d runs executing at once: two keys with limit 5 allow 10", g.top)
	}
}
