package batchwait

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
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
	var got []Completed
	if err := signalled(t, parent, map[time.Duration]Completed{
		time.Minute: {BatchID: "batch_b", Status: "ABORTED"},
		time.Hour:   {BatchID: "batch_a", Status: "COMPLETED", RunCounts: map[string]int{"COMPLETED": 3}},
	}, &got, "batch_a", "batch_b"); err != nil {
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

// cancelled waits for batch_a until a timer cancels the wait after
// after, then waits for it again without a deadline: the first Wait
// returns the cancellation, the completion that comes later is not lost.
func cancelled(ctx workflow.Context, after time.Duration) ([]string, error) {
	w := NewWaiter(ctx)
	wctx, cancel := workflow.WithCancel(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		_ = workflow.Sleep(ctx, after)
		cancel()
	})
	_, err := w.Wait(wctx, "batch_a")
	if !temporal.IsCanceledError(err) {
		return nil, fmt.Errorf("first wait: %v, want canceled", err)
	}
	at := workflow.Now(ctx)
	// A command after the cancelled Wait: a replay in which that Wait
	// returned at another point of the history fails on it.
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return nil, err
	}
	c, err := w.Wait(ctx, "batch_a")
	if err != nil {
		return nil, err
	}
	return []string{c.Status, workflow.Now(ctx).Sub(at).String()}, nil
}

func TestWaitReturnsOnCancel(t *testing.T) {
	t.Parallel()
	var got []string
	if err := signalled(t, cancelled, map[time.Duration]Completed{time.Hour: {BatchID: "batch_a", Status: "COMPLETED"}}, &got, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Cancelled at 1 min, the completion at 1 h: the second wait took 59 min.
	if len(got) != 2 || got[0] != "COMPLETED" || got[1] != "59m0s" {
		t.Fatalf("got %q", got)
	}
}

// Histories of cancelled, recorded on a Temporal dev server before the
// cancellation returned (v0: the first Wait waited for the next signal and
// dropped it) and after (v1), replay against the current Wait.
func TestReplayCancelledWaits(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"batchwait_cancelled_v0.json", "batchwait_cancelled_v1.json"} {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflow(cancelled)
		if err := r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// cancelledAfterTheSignal waits for batch_a on a context cancelled after
// batch_a's completion arrived: the completion is the answer.
func cancelledAfterTheSignal(ctx workflow.Context) (string, error) {
	w := NewWaiter(ctx)
	if err := workflow.Sleep(ctx, 2*time.Minute); err != nil {
		return "", err
	}
	wctx, cancel := workflow.WithCancel(ctx)
	cancel()
	c, err := w.Wait(wctx, "batch_a")
	return c.Status, err
}

func TestWaitOnACancelledContextReturnsAnArrivedCompletion(t *testing.T) {
	t.Parallel()
	var got string
	if err := signalled(t, cancelledAfterTheSignal, map[time.Duration]Completed{time.Minute: {BatchID: "batch_a", Status: "COMPLETED"}}, &got); err != nil || got != "COMPLETED" {
		t.Fatalf("got %q, %v; want the completion", got, err)
	}
}

// signalled runs workflow wf with args, sends each completion at its
// delay, and decodes the result into out.
func signalled(t *testing.T, wf any, at map[time.Duration]Completed, out any, args ...any) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(wf)
	for d, c := range at {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalName, c) }, d)
	}
	env.ExecuteWorkflow(wf, args...)
	return env.GetWorkflowResult(out)
}
