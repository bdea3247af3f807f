package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/proc"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// buildTaskWorker builds examples/taskworker into the stack's folder once
// per test binary.
func buildTaskWorker(t *testing.T, s *stack) string {
	t.Helper()
	taskWorkerOnce.Do(func() {
		bin := filepath.Join(s.dir, "taskworker")
		out, err := exec.Command("go", "build", "-o", bin, "../examples/taskworker").CombinedOutput()
		if err != nil {
			taskWorkerErr = fmt.Errorf("build examples/taskworker: %v\n%s", err, out)
			return
		}
		taskWorkerBin = bin
	})
	if taskWorkerErr != nil {
		t.Fatal(taskWorkerErr)
	}
	return taskWorkerBin
}

// The streambatch worker and the task worker are each SIGKILLed while runs
// execute, and restarted: every run still ends COMPLETED exactly once with
// its output recorded; runs whose attempt died with the task worker are
// retried (after their maxDuration) and count that attempt.
func TestFaultWorkersKilledMidExecution(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	testWorkersKilledMidExecution(t, s)
}

func testWorkersKilledMidExecution(t *testing.T, s *stack) {
	k := newFaultKit(t, s)
	env, key := s.newKey(t)
	cfg := s.config("fault-exec-" + batch.NewStreamID())
	api := s.withConfig(t, cfg)
	bin := buildTaskWorker(t, s)
	startTasks := func(name string) *proc.Process {
		return k.taskWorker(t, name, s.env(cfg), bin, env, s.temporal.FrontendHostPort())
	}
	w1 := k.worker(t, "worker1", s.env(cfg))
	t1 := startTasks("tasks1")

	const n = 60
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"index":%d,"task":"sleep","payload":{"ms":700},"options":{"maxDuration":4,"maxAttempts":5}}`+"\n", i)
	}
	id := api.mustCreate(t, key, n)
	if code, res, raw := api.stream(t, key, id, body.Bytes()); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}
	waitCount := func(what string, min int) {
		deadline := time.Now().Add(time.Minute)
		for {
			c := api.batchStatus(t, key, id).RunCounts
			if c["COMPLETED"] >= min && c["COMPLETED"] < n {
				return
			}
			if c["COMPLETED"] >= n || time.Now().After(deadline) {
				t.Fatalf("before %s: %v (the batch is too quick or stuck)", what, c)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitCount("killing the task worker", 5)
	t1.Kill()
	time.Sleep(500 * time.Millisecond)
	startTasks("tasks2")
	waitCount("killing the streambatch worker", 25)
	w1.Kill()
	time.Sleep(500 * time.Millisecond)
	k.worker(t, "worker2", s.env(cfg))

	b := api.waitBatch(t, key, id, 3*time.Minute)
	if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n {
		t.Fatalf("batch %+v", b)
	}
	retried := 0
	for _, r := range api.runs(t, key, id) {
		var out struct{ Slept, Attempt int }
		if r.Output == nil || json.Unmarshal([]byte(*r.Output), &out) != nil || out.Slept != 700 {
			t.Fatalf("run %d output %s", r.Index, deref(r.Output))
		}
		// The output is the attempt that completed; attempts counts them all.
		if r.Attempts != out.Attempt || r.Attempts < 1 || r.Attempts > 5 || r.CompletedAt == nil {
			t.Fatalf("run %d: attempts %d, completed by attempt %d", r.Index, r.Attempts, out.Attempt)
		}
		if r.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("no run was retried: the task worker died with no attempt in flight")
	}
	t.Logf("%d of %d runs retried after the task worker died", retried, n)
}

// A batch of 3,000 no-op runs executes to COMPLETED across several
// BatchRuns runs (continue-as-new), each history far below Temporal's
// limits, with every run executed once.
func TestRunsAcrossContinueAsNew(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	tw := startTaskWorker(t, s, env)
	const n = 3000
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"index":%d,"task":"echo","payload":{"n":%d}}`+"\n", i, i)
	}
	id := s.mustCreate(t, key, n)
	start := time.Now()
	if code, _, raw := s.stream(t, key, id, body.Bytes()); code != 200 {
		t.Fatalf("stream: %d %s", code, raw)
	}
	b := s.waitBatch(t, key, id, 5*time.Minute) // a bound, not a target: ~10 s on a quiet machine
	elapsed := time.Since(start)
	if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n || tw.total() != n {
		t.Fatalf("batch %+v, %d executions", b, tw.total())
	}
	ctx := context.Background()
	var res runswf.Result
	if err := s.app.Temporal.GetWorkflow(ctx, runswf.WorkflowID(id), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	list, err := s.app.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId=%q", runswf.WorkflowID(id)), PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	largest := int64(0)
	for _, e := range list.GetExecutions() {
		if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("a BatchRuns run still open: %v", e.GetExecution())
		}
		largest = max(largest, e.GetHistoryLength())
	}
	if res.Segments < 2 || len(list.GetExecutions()) != res.Segments || largest > 10_240 {
		t.Fatalf("%d segments, %d runs listed, largest history %d events", res.Segments, len(list.GetExecutions()), largest)
	}
	t.Logf("%d runs in %s (%.0f runs/s end to end), %d BatchRuns segments, largest history %d events",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), res.Segments, largest)
}

var (
	taskWorkerOnce sync.Once
	taskWorkerBin  string
	taskWorkerErr  error
)
