package runs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/workflows/flow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
	"github.com/streambatch/streambatch/workflows/flow/flowtest"
)

// cursorExec stands in for PostgreSQL for a batch of n no-op runs: runs
// below done are final; claims take the next indexes in order. It asks the
// workflow to continue as new once a segment dispatched perSegment runs,
// as Temporal does after about 4,096 events.
type cursorExec struct {
	mu         sync.Mutex
	env        *testsuite.TestWorkflowEnvironment
	n, next    int
	finished   int
	segment    int
	perSegment int
}

func (c *cursorExec) step(ctx context.Context, in StepInput) (StepResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finished += len(in.Results)
	out := StepResult{Status: batch.StatusProcessing}
	for len(out.Runs) < in.Claim && c.next < c.n && c.segment < c.perSegment {
		out.Runs = append(out.Runs, Dispatch{TaskQueue: "runs.dev", MaxAttempts: 1, StartToClose: time.Minute,
			Envelope: tasks.Envelope{Index: c.next, Task: "noop", Attempt: 1}})
		c.next++
		c.segment++
	}
	if c.segment >= c.perSegment {
		c.env.SetContinueAsNewSuggested(true)
	}
	out.Ready = c.next < c.n
	out.Open = c.finished < c.n
	return out, nil
}

func (c *cursorExec) finish(ctx context.Context, in FinishInput) (FinishResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished != c.n {
		return FinishResult{Status: batch.StatusProcessing}, nil
	}
	return FinishResult{Status: batch.StatusCompleted, RunCounts: map[string]int{"COMPLETED": c.n}}, nil
}

// segment runs one BatchRuns run of a million-run batch from in.
func runSegment(t *testing.T, exec *cursorExec, in Input) (*testsuite.TestWorkflowEnvironment, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := flowtest.NewEnv(&s)
	exec.env, exec.segment = env, 0
	env.RegisterWorkflowWithOptions(Workflow{Aside: &Aside{}}.BatchRuns, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(exec.step, activity.RegisterOptions{Name: ActivityDispatchStep})
	env.RegisterActivityWithOptions(exec.finish, activity.RegisterOptions{Name: ActivityFinishRuns})
	env.RegisterActivityWithOptions(func(context.Context, NotifyParentInput) (NotifyParentResult, error) {
		return NotifyParentResult{}, nil
	}, activity.RegisterOptions{Name: ActivityNotifyParent})
	env.RegisterActivityWithOptions(reconcileNothing, activity.RegisterOptions{Name: ActivityReconcileAttempts})
	env.RegisterActivityWithOptions(func(context.Context, tasks.Envelope) error { return nil }, activity.RegisterOptions{Name: "noop"})
	env.ExecuteWorkflow(WorkflowName, in)
	return env, env.GetWorkflowError()
}

// The last segments of a 1,000,000-run batch: what one BatchRuns run
// carries into the next is a few counters, whatever the batch's size or
// how far it got (so every segment's history has the same bounded shape as
// the 3,000-run end-to-end test's, ~4,400 events for ~1,000 runs), and the
// final segment completes the batch with every run counted.
func TestBatchRunsMillionRunsTail(t *testing.T) {
	t.Parallel()
	const n, perSegment = 1_000_000, 1000
	exec := &cursorExec{n: n, next: n - 2*perSegment, finished: n - 2*perSegment, perSegment: perSegment}
	in := Input{BatchID: "batch_million", Env: "dev", Execution: flow.Execution{Concurrency: 100, MaxAttempts: 3, MaxDuration: time.Minute},
		Carried: &Carried{Segment: 998, Dispatched: n - 2*perSegment, Finished: n - 2*perSegment}}

	_, err := runSegment(t, exec, in)
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("segment 999 ended with %v, want continue-as-new", err)
	}
	size := 0
	for _, p := range can.Input.GetPayloads() {
		size += len(p.GetData())
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Carried == nil || next.Carried.Segment != 999 || next.Carried.Dispatched != n-perSegment || next.Carried.Finished != n-perSegment || size > 512 {
		t.Fatalf("carried %+v in %d bytes", next.Carried, size)
	}

	env, err := runSegment(t, exec, next)
	if err != nil {
		t.Fatalf("last segment: %v", err)
	}
	var r Result
	if err := env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "COMPLETED" || r.RunCounts["COMPLETED"] != n || r.Segments != 1000 {
		t.Fatalf("result %+v", r)
	}
}
