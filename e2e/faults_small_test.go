package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// The streambatch worker is SIGKILLed while a small batch's BatchIngest
// executes the batch's runs, and restarted: the new worker replays that
// history and goes on; every run ends COMPLETED exactly once (one attempt:
// the task worker never died), and no BatchRuns was ever started.
func TestFaultWorkerKilledWhileIngestExecutesRuns(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	k := newFaultKit(t, s)
	env, key := s.newKey(t)
	cfg := s.config("fault-small-" + batch.NewStreamID())
	api := s.withConfig(t, cfg)
	w1 := k.worker(t, "worker1", s.env(cfg))
	k.taskWorker(t, "tasks", s.env(cfg), buildTaskWorker(t, s), env, s.temporal.FrontendHostPort())

	const n = 60 // within STREAMBATCH_SMALL_BATCH_RUNS (100)
	id := api.mustTrigger(t, key, n, func(i int) string {
		return fmt.Sprintf(`{"index":%d,"task":"sleep","payload":{"ms":700},"options":{"maxDuration":60,"maxAttempts":1}}`, i)
	})
	deadline := time.Now().Add(time.Minute)
	for {
		c := api.batchStatus(t, key, id).RunCounts
		if c["COMPLETED"] >= 10 && c["COMPLETED"] < n {
			break
		}
		if c["COMPLETED"] >= n || time.Now().After(deadline) {
			t.Fatalf("before the kill: %v (the batch is too quick or stuck)", c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w1.Kill()
	time.Sleep(500 * time.Millisecond)
	k.worker(t, "worker2", s.env(cfg))

	b := api.waitBatch(t, key, id, 3*time.Minute)
	if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n {
		t.Fatalf("batch %+v", b)
	}
	for _, r := range api.runs(t, key, id) {
		var out struct{ Slept, Attempt int }
		if r.Output == nil || json.Unmarshal([]byte(*r.Output), &out) != nil || out.Slept != 700 {
			t.Fatalf("run %d output %s", r.Index, deref(r.Output))
		}
		if r.Attempts != 1 || out.Attempt != 1 || r.CompletedAt == nil {
			t.Fatalf("run %d: %d attempts, completed by attempt %d; want exactly one", r.Index, r.Attempts, out.Attempt)
		}
	}
	requireNoBatchRuns(t, s, id)
}
