package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/tasks"
)

// A task worker SIGKILLed mid-slice (examples/taskworker, its "sleep" task
// sliced five to an activity): once its slice's heartbeat reported runs
// finished, the kill loses only the unfinished ones. The slice's next
// attempt, on a new task worker, returns the finished runs' outcomes
// without running them again and runs the others at their next attempt;
// every run ends COMPLETED exactly once.
func TestFaultTaskWorkerKilledMidSlice(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	k := newFaultKit(t, s)
	env, key := s.newKey(t)
	cfg := s.config("fault-slice-" + batch.NewStreamID())
	cfg.SlicedTasks = map[string]int{"sleep": 5}
	api := s.withConfig(t, cfg)
	bin := buildTaskWorker(t, s)
	startTasks := func(name string) *proc.Process {
		return k.taskWorker(t, name, s.env(cfg), bin, env, s.temporal.FrontendHostPort())
	}
	k.worker(t, "worker1", s.env(cfg))
	t1 := startTasks("tasks1")

	// Each slice of five holds runs of 1, 5, 9, 13 and 17 seconds.
	const n = 20
	ms := func(i int) int { return 1000 + 4000*(i%5) }
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"index":%d,"task":"sleep","payload":{"ms":%d},"options":{"maxDuration":60,"maxAttempts":3}}`+"\n", i, ms(i))
	}
	id := api.mustCreate(t, key, n)
	if code, res, raw := api.stream(t, key, id, body.Bytes()); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}

	finished := waitHeartbeatedRuns(t, s, id)
	t1.Kill()
	t.Logf("task worker killed after its slices reported runs %v finished", finished)
	startTasks("tasks2")

	b := api.waitBatch(t, key, id, 3*time.Minute)
	if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n || len(b.RunCounts) != 1 {
		t.Fatalf("batch %+v", b)
	}
	again := 0
	for _, r := range api.runs(t, key, id) {
		var out struct{ Slept, Attempt int }
		if r.Status != "COMPLETED" || r.Output == nil || json.Unmarshal([]byte(*r.Output), &out) != nil || out.Slept != ms(r.Index) {
			t.Fatalf("run %d: %s, output %s", r.Index, r.Status, deref(r.Output))
		}
		if r.Attempts != out.Attempt || r.Attempts < 1 || r.Attempts > 3 || r.CompletedAt == nil {
			t.Fatalf("run %d: attempts %d, completed by attempt %d", r.Index, r.Attempts, out.Attempt)
		}
		if finished[r.Index] && r.Attempts != 1 {
			t.Fatalf("run %d finished before the kill but ran again (attempts %d)", r.Index, r.Attempts)
		}
		if r.Attempts > 1 {
			again++
		}
	}
	if again == 0 {
		t.Fatal("no run ran again: the kill found no run unfinished")
	}
	t.Logf("%d runs finished before the kill kept their outcome, %d ran again", len(finished), again)
}

// waitHeartbeatedRuns waits until a slice in flight of the batch has
// heartbeated finished runs (tasks.SliceProgress, encrypted by the task
// worker) and returns them.
func waitHeartbeatedRuns(t *testing.T, s *stack, batchID string) map[int]bool {
	t.Helper()
	keys, err := codec.ParseKeys(e2ePayloadKeys)
	if err != nil {
		t.Fatal(err)
	}
	dc := codec.DataConverter(keys)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := s.app.Temporal.DescribeWorkflowExecution(context.Background(), runsWorkflowOf(s, batchID), "")
		if err == nil {
			done := map[int]bool{}
			for _, p := range resp.GetPendingActivities() {
				if p.GetHeartbeatDetails() == nil {
					continue
				}
				var prog tasks.SliceProgress
				if dc.FromPayloads(p.GetHeartbeatDetails(), &prog) != nil {
					continue
				}
				for _, o := range prog.Done {
					done[o.Index] = true
				}
			}
			if len(done) > 0 {
				return done
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("no slice heartbeated a finished run within 2 minutes")
	return nil
}
