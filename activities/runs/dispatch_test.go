package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/tasks"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

// A run without a ttl of its own gets STREAMBATCH_RUN_DEFAULT_TTL as its
// schedule-to-start timeout, counted from its dispatch (a run queued long
// ago is dispatched, not expired); a run's own ttl wins and still counts
// from its queue time; with no default a run waits for ever.
func TestDispatchDefaultTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	in := contract.StepInput{BatchID: "batch_x", Env: "prod", Now: now, MaxAttempts: 3, MaxDuration: time.Hour}
	old := now.Add(-24 * time.Hour)
	run := func(opts string, queued time.Time) store.ClaimedRun {
		r := store.ClaimedRun{Index: 1, Task: "t", PayloadType: batch.PayloadTypeJSON, QueueTimestamp: queued}
		if opts != "" {
			r.Options = json.RawMessage(opts)
		}
		return r
	}
	for _, tc := range []struct {
		name       string
		defaultTTL time.Duration
		run        store.ClaimedRun
		want       time.Duration
		expired    bool
	}{
		{"no ttl, no default: waits for ever", 0, run("", old), 0, false},
		{"no ttl: the default, from now", 10 * time.Minute, run("", old), 10 * time.Minute, false},
		{"no ttl, other options: the default", 10 * time.Minute, run(`{"tags":["a"]}`, now), 10 * time.Minute, false},
		{"own ttl wins, from its queue time", 10 * time.Minute, run(`{"ttl":"1h"}`, now.Add(-30*time.Minute)), 30 * time.Minute, false},
		{"own ttl passed: expired without dispatch", 10 * time.Minute, run(`{"ttl":"1h"}`, old), 0, true},
		// Whole seconds, rounded up: the runs of one second share it.
		{"own ttl, queued a millisecond past a second", 0, run(`{"ttl":"1h"}`, now.Add(-30*time.Minute+time.Millisecond)), 30*time.Minute + time.Second, false},
		{"own ttl, queued 999 ms past a second", 0, run(`{"ttl":"1h"}`, now.Add(-30*time.Minute+999*time.Millisecond)), 30*time.Minute + time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{RunDefaultTTL: tc.defaultTTL}
			d, failed, err := a.dispatch(context.Background(), in, tc.run, false)
			if err != nil {
				t.Fatal(err)
			}
			if tc.expired {
				if failed == nil || failed.Status != batch.RunExpired || failed.ErrorCode != batch.ErrorTTLExpired {
					t.Fatalf("want EXPIRED, got %+v", failed)
				}
				return
			}
			if failed != nil {
				t.Fatalf("failed: %+v", failed)
			}
			if d.ScheduleToStart != tc.want {
				t.Fatalf("schedule-to-start %s, want %s", d.ScheduleToStart, tc.want)
			}
		})
	}
}

// fakeHistories answers DescribeWorkflowExecution with fixed pending
// activities.
type fakeHistories struct {
	Histories
	pending []*workflowpb.PendingActivityInfo
}

func (f fakeHistories) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return &workflowservice.DescribeWorkflowExecutionResponse{PendingActivities: f.pending}, nil
}

// A run whose attempt runs, and a run waiting for its retry after a failed
// attempt, were both started by a task worker (they are not waiting for
// one); a run scheduled and never started is left QUEUED.
func TestStartedRunsCountRetryBackoff(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ts := timestamppb.New
	a := &Activities{Temporal: fakeHistories{pending: []*workflowpb.PendingActivityInfo{
		{ActivityId: "run-1", State: enumspb.PENDING_ACTIVITY_STATE_STARTED, Attempt: 1, LastStartedTime: ts(t0)},
		{ActivityId: "run-2", State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, Attempt: 3, LastStartedTime: ts(t0)},
		{ActivityId: "run-3", State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, Attempt: 2, LastAttemptCompleteTime: ts(t0)},
		{ActivityId: "run-4", State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, Attempt: 1},
		{ActivityId: "other", State: enumspb.PENDING_ACTIVITY_STATE_STARTED, Attempt: 1, LastStartedTime: ts(t0)},
	}}}
	got, err := a.startedRuns(context.Background(), "batch_x-runs", "r")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.RunStart{{Index: 1, Attempt: 1, StartedAt: t0}, {Index: 2, Attempt: 2, StartedAt: t0}, {Index: 3, Attempt: 1, StartedAt: t0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// The stored options shape the run's activity (PostgreSQL's rendering of
// them, as the claim returns it); options the dispatcher cannot honour fail
// the run with INVALID_OPTIONS.
func TestDispatchReadsStoredOptions(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	in := contract.StepInput{BatchID: "batch_x", Env: "prod", Now: now, MaxAttempts: 3, MaxDuration: time.Hour}
	a := &Activities{}
	run := func(opts string) store.ClaimedRun {
		return store.ClaimedRun{Index: 1, Task: "t", PayloadType: batch.PayloadTypeJSON, QueueTimestamp: now, Options: json.RawMessage(opts)}
	}
	d, failed, err := a.dispatch(context.Background(), in, run(
		`{"tags": ["a", "b"], "queue": {"name": "gpu"}, "priority": 5, "metadata": {"k": [1, 2]}, "maxAttempts": 7, "maxDuration": 30, "idempotencyKey": "ik"}`), false)
	if err != nil || failed != nil {
		t.Fatalf("failed %+v (%v)", failed, err)
	}
	e := d.Envelope
	if d.TaskQueue != tasks.TaskQueue("prod", "gpu") || d.MaxAttempts != 7 || d.StartToClose != 30*time.Second || d.Priority != 2 ||
		fmt.Sprint(e.Tags) != "[a b]" || string(e.Metadata) != `{"k":[1,2]}` || e.IdempotencyKey != "ik" {
		t.Fatalf("dispatch %+v", d)
	}
	_, failed, err = a.dispatch(context.Background(), in, run(`{"maxAttempts": 500}`), false)
	if err != nil || failed == nil || failed.Status != batch.RunFailed || failed.ErrorCode != batch.ErrorInvalidOptions ||
		failed.ErrorMessage != "options.maxAttempts must be between 1 and 100, got 500" {
		t.Fatalf("refused options: %+v (%v)", failed, err)
	}
}

// fakeWaker records the batches DispatchStep woke.
type fakeWaker struct {
	woke map[string]int
	err  error
}

func (f *fakeWaker) Wake(_ context.Context, batchID string, hint contract.Hint) error {
	if f.woke == nil {
		f.woke = map[string]int{}
	}
	f.woke[batchID] = *hint.From
	return f.err
}

// A step that freed queue slots wakes the batches that waited for them,
// each from the first of its waiting runs; a signal that fails does not
// fail the step (the results are recorded, the waiter retries on its
// timer). What is left waiting reaches the workflow.
func TestDispatchStepWakesQueueWaiters(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("signal fails=%v", fail), func(t *testing.T) {
			blocked := 7
			e := &fakeExec{stepRes: store.StepResult{Batch: store.Batch{Status: batch.StatusProcessing},
				Woken:   []store.QueueWaiter{{BatchID: "batch_b", From: 3}, {BatchID: "batch_c", From: 0}},
				Blocked: &blocked, BlockedQueue: "q"}}
			w := &fakeWaker{}
			if fail {
				w.err = fmt.Errorf("temporal unavailable")
			}
			a := &Activities{Exec: e, Waker: w}
			out, err := a.DispatchStep(context.Background(), contract.StepInput{BatchID: "batch_a", RunID: "r", Step: 1,
				Results: []contract.RunOutcome{{Index: 1, Status: batch.RunCompleted}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(w.woke) != 2 || w.woke["batch_b"] != 3 || w.woke["batch_c"] != 0 {
				t.Fatalf("woke %v, want batch_b from 3 and batch_c from 0", w.woke)
			}
			if out.Blocked == nil || *out.Blocked != 7 || out.BlockedQueue != "q" {
				t.Fatalf("step result blocked=%v on %q, want 7 on q", out.Blocked, out.BlockedQueue)
			}
		})
	}
}
