package batchwait

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// parent waits for two batches whose completions arrive in the other order.
func parent(ctx workflow.Context, first, second string) ([]Completed, error) {
	w := NewWaiter(ctx)
	a, err := w.Wait(ctx, first)
	if err != nil {
		return nil, err
	}
	b, err := w.Wait(ctx, second)
	return []Completed{a, b}, err
}

func TestWaiterKeepsOtherBatches(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(parent)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalName, Completed{BatchID: "batch_b", Status: "ABORTED"})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalName, Completed{BatchID: "batch_a", Status: "COMPLETED", RunCounts: map[string]int{"COMPLETED": 3}})
	}, time.Hour)
	env.ExecuteWorkflow(parent, "batch_a", "batch_b")
	var got []Completed
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].BatchID != "batch_a" || got[0].RunCounts["COMPLETED"] != 3 || got[1].Status != "ABORTED" {
		t.Fatalf("got %+v", got)
	}
}

// allowing declares the environment whose batches may resume it and
// returns the BatchEnv it then carries.
func allowing(ctx workflow.Context, env string) (string, error) {
	if err := Allow(ctx, env); err != nil {
		return "", err
	}
	got, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(SearchAttribute)
	return got, nil
}

func TestAllowSetsBatchEnv(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(allowing)
	env.ExecuteWorkflow(allowing, "tenant-a")
	var got string
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got != "tenant-a" {
		t.Fatalf("BatchEnv = %q, want tenant-a", got)
	}
}
