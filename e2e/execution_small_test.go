package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/streambatch/streambatch/tasks/batchwait"
	"github.com/streambatch/streambatch/wire"
	"github.com/streambatch/streambatch/workflows/flow"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// requireNoBatchRuns fails unless the batch never had a BatchRuns
// workflow: its BatchIngest executed the runs (STREAMBATCH_SMALL_BATCH_RUNS).
func requireNoBatchRuns(t *testing.T, s *stack, id string) {
	t.Helper()
	_, err := s.app.Temporal.DescribeWorkflowExecution(context.Background(), runswf.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("describe %s: %v, want not found: a small batch's runs execute in its BatchIngest", runswf.WorkflowID(id), err)
	}
}

// runsWorkflowOf returns the ID of the workflow that executes the batch's
// runs: its BatchRuns, or, for a small batch, its BatchIngest (the batch's
// id), which then has no BatchRuns.
func runsWorkflowOf(s *stack, id string) string {
	_, err := s.app.Temporal.DescribeWorkflowExecution(context.Background(), runswf.WorkflowID(id), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return id
	}
	return runswf.WorkflowID(id)
}

// runActivities counts the run activities (activity type: the task) a
// workflow's history scheduled.
func runActivities(t *testing.T, s *stack, workflowID, task string) int {
	t.Helper()
	it := s.app.Temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == task {
			n++
		}
	}
	return n
}

// A 10-run batch streamed in one request is one workflow execution: its
// BatchIngest seals it and executes its runs (the activities in its own
// history, where Temporal UI shows them), completes it and signals its
// parent; no BatchRuns is started. A replay afterwards starts the batch's
// BatchRuns, which runs the failed run again.
func TestSmallBatchRunsInItsIngestWorkflow(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	tw := startTaskWorker(t, s, env)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const n = 10
	parentID := "parent-small-of-" + env
	created := createWithParent(t, s, key, parentID, n)
	id := created.ID
	run := startParent(ctx, t, s, envTemporalClient(t, s, env), env, parentID, id)
	var body bytes.Buffer
	for i := range n - 1 {
		fmt.Fprintf(&body, `{"index":%d,"task":"echo","payload":{"n":%d}}`+"\n", i, i)
	}
	fmt.Fprintf(&body, `{"index":%d,"task":"broken","payload":{"n":0},"options":{"maxAttempts":1}}`+"\n", n-1)
	if code, res, raw := s.stream(t, key, id, body.Bytes()); code != 200 || !res.Sealed {
		t.Fatalf("stream: %d %s", code, raw)
	}

	step(t, "the batch completes and its parent is signalled", func(t *testing.T) {
		var got batchwait.Completed
		if err := run.Get(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if got.BatchID != id || got.Status != "COMPLETED" || got.RunCounts["COMPLETED"] != n-1 || got.RunCounts["FAILED"] != 1 {
			t.Fatalf("parent got %+v", got)
		}
		b := s.waitBatch(t, key, id, time.Minute)
		if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n-1 || b.RunCounts["FAILED"] != 1 {
			t.Fatalf("batch %+v", b)
		}
		for _, r := range s.runs(t, key, id) {
			if r.Attempts != 1 || tw.executions(r.ID) != 1 {
				t.Fatalf("run %d: %d attempts, executed %d times; want once", r.Index, r.Attempts, tw.executions(r.ID))
			}
		}
	})
	step(t, "one workflow execution: BatchIngest executed the runs", func(t *testing.T) {
		requireNoBatchRuns(t, s, id)
		if got := s.batchStatus(t, key, id).RunsWorkflowID; got != id {
			t.Fatalf("GET batch says runsWorkflowId %q, want the BatchIngest %q", got, id)
		}
		var res ingestwf.Result
		if err := s.app.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.State != ingestwf.StateSealed || res.Executed == nil || res.Executed.Status != "COMPLETED" || res.Executed.HandedOver {
			t.Fatalf("BatchIngest result %+v (executed %+v)", res, res.Executed)
		}
		if got := runActivities(t, s, id, "echo") + runActivities(t, s, id, "broken"); got != n {
			t.Fatalf("BatchIngest's history scheduled %d run activities, want %d", got, n)
		}
		d, err := s.app.Temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		p := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[flow.SearchAttrBatchState.GetName()]
		if p == nil || string(p.GetData()) != `"COMPLETED"` {
			t.Fatalf("BatchState = %s, want COMPLETED", p.GetData())
		}
		recordHistory(t, s, id, "batch_ingest_runs_here_v2")
	})
	step(t, "a replay starts the batch's BatchRuns", func(t *testing.T) {
		var rep wire.Replay
		if resp := s.call(t, http.MethodPost, "/api/v3/batches/"+id+"/replay", key, nil, "", &rep); resp.StatusCode != http.StatusAccepted || rep.Replayed != 1 {
			t.Fatalf("replay: %d %s", resp.StatusCode, resp.Body)
		}
		b := s.waitBatch(t, key, id, time.Minute)
		if b.Status != "COMPLETED" || b.RunCounts["FAILED"] != 1 {
			t.Fatalf("after replay: %+v", b)
		}
		if got := runActivities(t, s, runswf.WorkflowID(id), "broken"); got != 1 {
			t.Fatalf("BatchRuns scheduled %d activities of the replayed run, want 1", got)
		}
	})
}

// A run of a small batch is cancelled, and the batch aborted, through the
// batch's BatchIngest, which executes its runs: the API's signals reach
// it there (runs.Client routes them), and no BatchRuns is started.
func TestSmallBatchCancelAndAbortReachItsIngestWorkflow(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	env, key := s.newKey(t)
	startTaskWorker(t, s, env)
	const n = 4
	id := s.mustTrigger(t, key, n, func(i int) string { return fmt.Sprintf(`{"index":%d,"task":"slow","payload":{"n":%d}}`, i, i) })
	deadline := time.Now().Add(time.Minute)
	for s.batchStatus(t, key, id).RunCounts["EXECUTING"] < n {
		if time.Now().After(deadline) {
			t.Fatalf("runs never all EXECUTING: %v", s.batchStatus(t, key, id).RunCounts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	step(t, "cancel one run", func(t *testing.T) {
		r0 := s.runs(t, key, id)[0]
		var got wire.Run
		resp := s.call(t, http.MethodPost, "/api/v3/runs/"+r0.ID+"/cancel", key, nil, "", &got)
		if resp.StatusCode != http.StatusOK || got.Status != "CANCELED" {
			t.Fatalf("cancel: %d %s", resp.StatusCode, resp.Body)
		}
		if c := s.batchStatus(t, key, id).RunCounts; c["CANCELED"] != 1 || c["EXECUTING"] != n-1 {
			t.Fatalf("after the cancel: %v", c)
		}
	})
	step(t, "abort the batch", func(t *testing.T) {
		var ab wire.BatchStatus
		resp := s.call(t, http.MethodPost, "/api/v3/batches/"+id+"/abort", key, stringsReader(`{"reason":"enough"}`), "application/json", &ab)
		if resp.StatusCode != http.StatusOK || ab.Status != "ABORTED" || ab.RunCounts["CANCELED"] != n {
			t.Fatalf("abort: %d %s", resp.StatusCode, resp.Body)
		}
		requireNoBatchRuns(t, s, id)
		recordHistory(t, s, id, "batch_ingest_runs_here_abort_v2")
	})
}
