package runs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

// hostWorkflow stands for BatchIngest: a workflow of another flow that
// executes a batch's runs with Execute.
const hostWorkflow = "Host"

// newExecuteHarness is newRunsHarness with the host workflow registered,
// and a HandOver that records its inputs.
func newExecuteHarness(t *testing.T, n int) (*runsHarness, *handOvers) {
	t.Helper()
	h := newRunsHarness(t, n)
	wf := Workflow{Aside: &h.exec.aside}
	h.env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in Input) (flow.RunsOutcome, error) {
		return wf.Execute(ctx, in.BatchID, in.Env, in.Execution)
	}, workflow.RegisterOptions{Name: hostWorkflow})
	ho := &handOvers{}
	h.env.RegisterActivityWithOptions(ho.handOver, activity.RegisterOptions{Name: ActivityHandOver})
	return h, ho
}

type handOvers struct {
	mu  sync.Mutex
	ins []HandOverInput
	// during, when set, runs while the hand-over does.
	during func()
}

func (ho *handOvers) handOver(_ context.Context, in HandOverInput) error {
	ho.mu.Lock()
	defer ho.mu.Unlock()
	ho.ins = append(ho.ins, in)
	if ho.during != nil {
		ho.during()
	}
	return nil
}

// Execute runs a batch's runs inside the calling workflow as BatchRuns
// would: each run once per attempt, the batch completed, the parent told;
// its outcome is the batch's.
func TestExecuteRunsInTheCallingWorkflow(t *testing.T) {
	t.Parallel()
	h, ho := newExecuteHarness(t, 20)
	h.exec.parent = "parent-wf"
	h.env.ExecuteWorkflow(hostWorkflow, runsInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out flow.RunsOutcome
	if err := h.env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	if out.Status != string(batch.StatusCompleted) || out.RunCounts["COMPLETED"] != 16 || out.RunCounts["FAILED"] != 4 || out.HandedOver {
		t.Fatalf("outcome %+v", out)
	}
	for i := range 20 {
		if want := 1 + i%5/4; h.ran[i] != want {
			t.Fatalf("run %d executed %d times, want %d", i, h.ran[i], want)
		}
	}
	if told := h.exec.told; told == nil || told.Parent != "parent-wf" || told.Status != "COMPLETED" {
		t.Fatalf("NotifyParent asked %+v", told)
	}
	if len(ho.ins) != 0 {
		t.Fatalf("handed over %+v: nothing grew too long", ho.ins)
	}
}

// Where BatchRuns would continue as new, Execute drains its window and
// hands the rest to BatchRuns from its claim cursor, without continuing the
// calling workflow as new.
func TestExecuteHandsOverInsteadOfContinuingAsNew(t *testing.T) {
	t.Parallel()
	h, ho := newExecuteHarness(t, 12)
	h.exec.status = batch.StatusPending // keep it from completing
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, time.Second)
	h.env.ExecuteWorkflow(hostWorkflow, runsInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("want the host to end normally, got %v", err)
	}
	var out flow.RunsOutcome
	if err := h.env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	if !out.HandedOver || out.Status != "" {
		t.Fatalf("outcome %+v, want handed over", out)
	}
	if len(ho.ins) != 1 || ho.ins[0].BatchID != "batch_test" || ho.ins[0].Env != "dev" {
		t.Fatalf("HandOver asked %+v, want once for the batch", ho.ins)
	}
	h.exec.mu.Lock()
	defer h.exec.mu.Unlock()
	for i, s := range h.exec.runs {
		if !s.Final() && h.exec.claimed[i] != "" && i < ho.ins[0].From {
			t.Fatalf("run %d (%s) is below the hand-over cursor %d but not final", i, s, ho.ins[0].From)
		}
	}
}

// Signals that reach the calling workflow while HandOver runs (the API
// still routes there) are passed on to BatchRuns, which has the runs: an
// abort, and the hints merged into one (the lowest From).
func TestExecutePassesOnWhatCameDuringTheHandOver(t *testing.T) {
	t.Parallel()
	h, ho := newExecuteHarness(t, 12)
	h.exec.status = batch.StatusPending
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, time.Second)
	ho.during = func() {
		h.env.SignalWorkflow(SignalAbort, "enough")
		h.env.SignalWorkflow(SignalRunsReady, HintFrom(7))
		h.env.SignalWorkflow(SignalRunsReady, HintFrom(3))
		h.env.SignalWorkflow(SignalCancelRun, 5)
	}
	var mu sync.Mutex
	var passed []string
	h.env.OnSignalExternalWorkflow(mock.Anything, WorkflowID("batch_test"), "", mock.Anything, mock.Anything).Return(
		func(_, _, _, signal string, arg any) error {
			mu.Lock()
			defer mu.Unlock()
			switch a := arg.(type) {
			case Hint:
				passed = append(passed, fmt.Sprintf("%s from %d", signal, *a.From))
			default:
				passed = append(passed, fmt.Sprintf("%s %v", signal, a))
			}
			return nil
		})
	h.env.ExecuteWorkflow(hostWorkflow, runsInput())
	var out flow.RunsOutcome
	if err := h.env.GetWorkflowResult(&out); err != nil || !out.HandedOver {
		t.Fatalf("outcome %+v, %v; want handed over", out, err)
	}
	want := []string{SignalAbort + " enough", SignalRunsReady + " from 3"}
	if !slices.Equal(passed, want) {
		t.Fatalf("passed on %q, want %q", passed, want)
	}
}
