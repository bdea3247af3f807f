package runs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
)

// sliceCalls counts, per run index, the attempts a task function saw in
// slices and alone.
type sliceCalls struct {
	mu              sync.Mutex
	inSlice, alone  map[int][]int // attempts seen, by index
	sliceActivities int
}

func (c *sliceCalls) saw(ctx context.Context, run *tasks.Run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if activity.GetInfo(ctx).ActivityType.Name == tasks.SliceActivity(run.Task) {
		c.inSlice[run.Index] = append(c.inSlice[run.Index], run.Attempt)
	} else {
		c.alone[run.Index] = append(c.alone[run.Index], run.Attempt)
	}
}

// A sliced task's runs execute K at a time in one activity, with the
// tasks package's runner: outputs and errors come back per run; a run that
// fails with attempts left is retried alone (as the plain task), with the
// attempt after the slice's and the attempts left; a non-retryable error
// ends the run at once.
func TestBatchRunsSlices(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 20)
	h.exec.slice = 5
	h.exec.taskOf = func(int) string { return "sl" }
	calls := &sliceCalls{inSlice: map[int][]int{}, alone: map[int][]int{}}
	tasks.RegisterRunSliced(h.env, "sl", func(ctx context.Context, run *tasks.Run) (any, error) {
		calls.saw(ctx, run)
		switch {
		case run.Index == 2 && run.Attempt == 1:
			return nil, errors.New("flaky")
		case run.Index == 3:
			return nil, temporal.NewApplicationError("always", "Boom")
		case run.Index == 4:
			return nil, tasks.NonRetryable(errors.New("bad input"))
		}
		return map[string]int{"index": run.Index}, nil
	})
	in := runsInput()
	in.Concurrency = 20 // the first step claims every run: 4 slices of 5
	h.env.ExecuteWorkflow(WorkflowName, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil || r.Status != "COMPLETED" || r.RunCounts["COMPLETED"] != 18 || r.RunCounts["FAILED"] != 2 {
		t.Fatalf("result %+v, %v", r, err)
	}
	for i := range 20 {
		o := h.exec.outcomes[i]
		switch i {
		case 2:
			if o.Status != batch.RunCompleted || o.Attempts != 2 || string(o.Output) != `{"index":2}` {
				t.Errorf("run 2 (failed once in its slice): %+v", o)
			}
			if calls.inSlice[2][0] != 1 || len(calls.alone[2]) != 1 || calls.alone[2][0] != 2 {
				t.Errorf("run 2 attempts: in slice %v, alone %v; want [1], [2]", calls.inSlice[2], calls.alone[2])
			}
		case 3:
			if o.Status != batch.RunFailed || o.ErrorCode != "Boom" || o.ErrorMessage != "always" || o.Attempts != 2 {
				t.Errorf("run 3 (always fails, maxAttempts 2): %+v", o)
			}
		case 4:
			if o.Status != batch.RunFailed || o.ErrorCode != "NonRetryable" || o.Attempts != 1 || len(calls.alone[4]) != 0 {
				t.Errorf("run 4 (non-retryable): %+v, retried %v", o, calls.alone[4])
			}
		default:
			if o.Status != batch.RunCompleted || o.Attempts != 1 || o.OutputType != batch.OutputTypeJSON || len(calls.inSlice[i]) != 1 || len(calls.alone[i]) != 0 {
				t.Errorf("run %d: %+v, in slice %v, alone %v", i, o, calls.inSlice[i], calls.alone[i])
			}
		}
	}
	if len(h.exec.retries) != 2 || h.exec.retries[0].Prior != 1 || h.exec.retries[0].Attempt != 2 {
		t.Fatalf("retries %+v, want runs 2 and 3 after 1 attempt", h.exec.retries)
	}
}

// A slice activity that failed (its worker stopped heartbeating, every
// attempt) keeps the outcomes its last heartbeat reported; its other runs
// end as a run activity that failed the same way would.
func TestBatchRunsSliceKeepsHeartbeatedOutcomes(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 4)
	h.exec.slice = 4
	h.exec.taskOf = func(int) string { return "hb" }
	h.env.RegisterActivityWithOptions(func(ctx context.Context, envs []tasks.Envelope) (tasks.SliceResult, error) {
		p := tasks.SliceProgress{Done: []tasks.SliceOutcome{{Index: 0, Attempts: 1, Output: []byte(`"zero"`)},
			{Index: 1, Attempts: 1, Error: &tasks.SliceError{Type: "Boom", Message: "no", NonRetryable: true}}}}
		return tasks.SliceResult{}, temporal.NewHeartbeatTimeoutError(p)
	}, activity.RegisterOptions{Name: tasks.SliceActivity("hb")})
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if o := h.exec.outcomes[0]; o.Status != batch.RunCompleted || string(o.Output) != `"zero"` {
		t.Fatalf("run 0 (finished before the worker died): %+v", o)
	}
	if o := h.exec.outcomes[1]; o.Status != batch.RunFailed || o.ErrorCode != "Boom" {
		t.Fatalf("run 1 (failed before the worker died): %+v", o)
	}
	for _, i := range []int{2, 3} {
		if o := h.exec.outcomes[i]; o.Status != batch.RunTimedOut || o.ErrorCode != batch.ErrorMaxDuration {
			t.Fatalf("run %d (unfinished): %+v", i, o)
		}
	}
}

// Cancelling one run of a slice in flight ends that run CANCELED and
// leaves the others of its slice to finish.
func TestBatchRunsCancelOneRunOfASlice(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 4)
	h.exec.slice = 4
	h.exec.taskOf = func(int) string { return "held" }
	hold := make(chan struct{})
	h.env.RegisterActivityWithOptions(func(ctx context.Context, envs []tasks.Envelope) (tasks.SliceResult, error) {
		<-hold
		var res tasks.SliceResult
		for _, e := range envs {
			res.Runs = append(res.Runs, tasks.SliceOutcome{Index: e.Index, Attempts: 1, Output: []byte(`1`)})
		}
		return res, nil
	}, activity.RegisterOptions{Name: tasks.SliceActivity("held")})
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(SignalCancelRun, 1)
		close(hold)
	}, 50*time.Millisecond)
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "COMPLETED" || r.RunCounts["CANCELED"] != 1 || r.RunCounts["COMPLETED"] != 3 || h.exec.outcomes[1].Status != batch.RunCanceled {
		t.Fatalf("result %+v, run 1 %+v", r, h.exec.outcomes[1])
	}
}

// An abort cancels the slices in flight: all their runs end CANCELED.
func TestBatchRunsAbortCancelsSlices(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 10)
	h.exec.slice = 3
	h.exec.taskOf = func(int) string { return "held" }
	h.env.RegisterActivityWithOptions(func(ctx context.Context, envs []tasks.Envelope) (tasks.SliceResult, error) {
		<-ctx.Done()
		return tasks.SliceResult{}, ctx.Err()
	}, activity.RegisterOptions{Name: tasks.SliceActivity("held")})
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalAbort, "stop it") }, 50*time.Millisecond)
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "ABORTED" || r.RunCounts["CANCELED"] != 10 {
		t.Fatalf("result %+v", r)
	}
}

// Runs share a slice only with runs of the same task, queue and options,
// up to the slice size; a run retried alone never joins one.
func TestSliceGroups(t *testing.T) {
	t.Parallel()
	d := func(i int, task string, slice, prior int) Dispatch {
		return Dispatch{Envelope: tasks.Envelope{Index: i, Task: task}, TaskQueue: "q", MaxAttempts: 3, Slice: slice, Prior: prior}
	}
	runs := []Dispatch{d(0, "a", 2, 0), d(1, "b", 2, 0), d(2, "a", 2, 0), d(3, "a", 2, 0), d(4, "a", 2, 1), d(5, "c", 0, 0), d(6, "b", 2, 0)}
	var got [][]int
	for _, g := range sliceGroups(runs) {
		var idx []int
		for _, r := range g {
			idx = append(idx, r.Envelope.Index)
		}
		got = append(got, idx)
	}
	want := "[[0 2] [1 6] [3] [4] [5]]"
	if s := fmtGroups(got); s != want {
		t.Fatalf("groups %s, want %s", s, want)
	}
}

func fmtGroups(g [][]int) string { return fmt.Sprint(g) }

// The window counts run activities, a slice as one
// (changeWindowActivities), and a free place claims a slice's worth of
// runs: with a window of 20 and slices of 5, all 60 runs of the batch
// execute at once in 12 full slices, where counting runs held 20 of them.
func TestWindowCountsASliceOnce(t *testing.T) {
	t.Parallel()
	const n = 60
	h := newRunsHarness(t, n)
	h.exec.slice = 5
	h.exec.taskOf = func(int) string { return "sl" }
	var mu sync.Mutex
	running, peak := 0, 0
	activities := map[string]bool{}
	all := make(chan struct{})
	tasks.RegisterRunSliced(h.env, "sl", func(ctx context.Context, run *tasks.Run) (any, error) {
		mu.Lock()
		activities[activity.GetInfo(ctx).ActivityID] = true
		running++
		peak = max(peak, running)
		if running == n {
			close(all)
		}
		mu.Unlock()
		select { // every run waits until all run at once, or 3 s
		case <-all:
		case <-time.After(3 * time.Second):
		}
		mu.Lock()
		running--
		mu.Unlock()
		return nil, nil
	})
	in := runsInput()
	in.Concurrency = 20
	h.env.ExecuteWorkflow(WorkflowName, in)
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil || r.RunCounts["COMPLETED"] != n {
		t.Fatalf("result %+v, %v", r, err)
	}
	if peak != n {
		t.Fatalf("at most %d runs executed at once, want all %d: the window of 20 holds 20 slices", peak, n)
	}
	if len(activities) != n/5 {
		t.Fatalf("%d slice activities, want %d full slices of 5", len(activities), n/5)
	}
}
