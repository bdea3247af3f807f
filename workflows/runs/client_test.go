package runs

import (
	"context"
	"slices"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/streambatch/streambatch/workflows/flow"
)

// waitClient answers GetWorkflow with ended workflows: the batch's
// BatchIngest with executed (its own runs), BatchRuns with result; waited
// lists the workflow ids waited for.
type waitClient struct {
	client.Client
	executed *flow.RunsOutcome
	result   Result
	noRuns   bool // no BatchRuns exists
	waited   []string
}

func (c *waitClient) GetWorkflow(_ context.Context, workflowID, _ string) client.WorkflowRun {
	c.waited = append(c.waited, workflowID)
	if workflowID == WorkflowID("batch_a") {
		if c.noRuns {
			return endedRun{err: serviceerror.NewNotFound("no such workflow")}
		}
		return endedRun{v: c.result}
	}
	return endedRun{v: flow.RunsExecuted{Executed: c.executed}}
}

// endedRun is a workflow run that has ended with v, or that err answers.
type endedRun struct {
	client.WorkflowRun
	v   any
	err error
}

func (r endedRun) Get(_ context.Context, ptr any) error {
	if r.err != nil {
		return r.err
	}
	switch p := ptr.(type) {
	case *flow.RunsExecuted:
		*p = r.v.(flow.RunsExecuted)
	case *Result:
		*p = r.v.(Result)
	}
	return nil
}

// Wait reads BatchIngest's result only while the batch's runs are its
// (RunsHere): after a replay they are BatchRuns', and the BatchIngest that
// executed them first has a result that no longer says how they end.
func TestWaitFollowsWhereTheRunsAre(t *testing.T) {
	t.Parallel()
	old := &flow.RunsOutcome{Status: "COMPLETED", RunCounts: map[string]int{"COMPLETED": 3}}
	replayed := Result{BatchID: "batch_a", Status: "COMPLETED", RunCounts: map[string]int{"COMPLETED": 2, "FAILED": 1}}
	t.Run("runs here: BatchIngest's result", func(t *testing.T) {
		t.Parallel()
		c := &waitClient{executed: old, result: replayed}
		res, err := NewClient(c, "q", Input{}).Wait(context.Background(), "batch_a", true)
		if err != nil || res.RunCounts["COMPLETED"] != 3 || !slices.Equal(c.waited, []string{"batch_a"}) {
			t.Fatalf("got %+v, %v; waited for %q", res, err, c.waited)
		}
	})
	t.Run("runs in BatchRuns: its result, not BatchIngest's", func(t *testing.T) {
		t.Parallel()
		c := &waitClient{executed: old, result: replayed}
		res, err := NewClient(c, "q", Input{}).Wait(context.Background(), "batch_a", false)
		if err != nil || res.RunCounts["FAILED"] != 1 || !slices.Equal(c.waited, []string{WorkflowID("batch_a")}) {
			t.Fatalf("got %+v, %v; waited for %q", res, err, c.waited)
		}
	})
	t.Run("no BatchRuns yet: BatchIngest through its hand-over", func(t *testing.T) {
		t.Parallel()
		c := &waitClient{executed: old, noRuns: true}
		res, err := NewClient(c, "q", Input{}).Wait(context.Background(), "batch_a", false)
		if err != nil || res.RunCounts["COMPLETED"] != 3 || !slices.Equal(c.waited, []string{WorkflowID("batch_a"), "batch_a"}) {
			t.Fatalf("got %+v, %v; waited for %q", res, err, c.waited)
		}
	})
}

// startClient has no BatchIngest (Describe: not found) and records the
// input BatchRuns is signal-with-started with.
type startClient struct {
	client.Client
	started []Input
}

func (c *startClient) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return nil, serviceerror.NewNotFound("no such workflow")
}

func (c *startClient) SignalWithStartWorkflow(_ context.Context, _ string, _ string, _ any, _ client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	c.started = append(c.started, args[0].(Input))
	return nil, nil
}

// Abort starts a BatchRuns that aborts before its first step, so that it
// never dispatches a run of the batch it is to abort.
func TestAbortStartsBatchRunsAborting(t *testing.T) {
	t.Parallel()
	c := &startClient{}
	if err := NewClient(c, "q", Input{}).Abort(context.Background(), "batch_a", "dev", "seal timeout"); err != nil {
		t.Fatal(err)
	}
	if len(c.started) != 1 || c.started[0].Carried == nil || c.started[0].Carried.Abort != "seal timeout" {
		t.Fatalf("started with %+v, want Carried.Abort set", c.started)
	}
}
