package runs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/tasks"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

// fakeExec is the store's run-execution part: it records what it was given
// and answers what it was told to.
type fakeExec struct {
	step      store.Step
	steps     int
	stepRes   store.StepResult
	stepErr   error
	batch     store.Batch
	finishErr error
	// clearedHere counts ClearRunsHere calls.
	clearedHere int
	aborted     string
	completed   bool
	counts      map[batch.RunStatus]int
	countsErr   error
	owner       string
	starts      []store.RunStart
	reconcile   int
	notified    bool
	runs        map[int]store.Run // GetRun's
}

func (e *fakeExec) DispatchStep(_ context.Context, st store.Step) (store.StepResult, error) {
	e.step, e.steps = st, e.steps+1
	return e.stepRes, e.stepErr
}

func (e *fakeExec) ReconcileAttempts(_ context.Context, _, owner string, starts []store.RunStart) error {
	e.owner, e.starts, e.reconcile = owner, starts, e.reconcile+1
	return nil
}

func (e *fakeExec) CompleteBatch(context.Context, string) (store.Batch, bool, error) {
	e.completed = true
	return e.batch, e.finishErr == nil, e.finishErr
}

func (e *fakeExec) AbortBatch(_ context.Context, _, reason string, _ bool) (store.Batch, error) {
	e.aborted = reason
	return e.batch, e.finishErr
}

func (e *fakeExec) RunCounts(context.Context, string) (map[batch.RunStatus]int, error) {
	return e.counts, e.countsErr
}

func (e *fakeExec) MarkParentNotified(context.Context, string) (bool, error) {
	e.notified = true
	return true, nil
}

func (e *fakeExec) MarkParentRefused(context.Context, string, string) error { return nil }

func (e *fakeExec) ClearRunsHere(context.Context, string) error {
	e.clearedHere++
	return nil
}

func (e *fakeExec) GetRun(_ context.Context, _ string, index int) (store.Run, error) {
	r, ok := e.runs[index]
	if !ok {
		return store.Run{}, store.ErrNotFound
	}
	return r, nil
}

// fakeObjects is S3: it keeps what was put and presigns anything.
type fakeObjects struct {
	mu         sync.Mutex
	put        map[string]string
	types      map[string]string
	putErr     error
	presignErr error
}

func (o *fakeObjects) Put(_ context.Context, key, contentType string, body io.ReadSeeker, _ int64) error {
	if o.putErr != nil {
		return o.putErr
	}
	b, _ := io.ReadAll(body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.put == nil {
		o.put, o.types = map[string]string{}, map[string]string{}
	}
	o.put[key], o.types[key] = string(b), contentType
	return nil
}

func (o *fakeObjects) PresignGet(_ context.Context, key string, _ time.Duration) (string, error) {
	if o.presignErr != nil {
		return "", o.presignErr
	}
	return "https://s3.test/" + key, nil
}

// describeCounter is Temporal's describe of BatchRuns, counted.
type describeCounter struct {
	fakeHistories
	calls *int
	err   error
}

func (d describeCounter) DescribeWorkflowExecution(ctx context.Context, id, run string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	*d.calls++
	if d.err != nil {
		return nil, d.err
	}
	return d.fakeHistories.DescribeWorkflowExecution(ctx, id, run)
}

// A dispatch step stores the outcomes it was given (large outputs in S3),
// claims under the calling run's name, and turns the claimed runs into
// activities, or into outcomes when they cannot run.
func TestDispatchStep(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const env, id = "prod", "batch_aaaaaaaaaaaaaaaaaaaaaaaa"
	large := `"` + strings.Repeat("o", 100) + `"`
	stored := batch.PacketPrefix(env) + "p.json"
	delay := now.Add(time.Minute)
	promoted := 4
	in := contract.StepInput{BatchID: id, Env: env, WorkflowID: id + "-runs", RunID: "r1", Step: 4, Claim: 3, From: 2, Now: now,
		MaxAttempts: 3, MaxDuration: time.Hour,
		Results: []contract.RunOutcome{
			{Index: 0, Status: batch.RunCompleted, Output: []byte(`{"ok":true}`), OutputType: "application/json", Attempts: 1, CompletedAt: now},
			{Index: 1, Status: batch.RunCompleted, Output: []byte(large), OutputType: "application/json", Attempts: 2, CompletedAt: now},
			{Index: 5, Status: batch.RunFailed, ErrorCode: "TASK_FAILED", ErrorMessage: "boom", Attempts: 3, CompletedAt: now},
		}}
	claimed := []store.ClaimedRun{
		{Index: 2, Task: "t", PayloadType: batch.PayloadTypeJSON, Payload: ptr(`{"i":2}`), Attempts: 1, QueueTimestamp: now},
		{Index: 3, Task: "t", PayloadType: batch.PayloadTypeJSON, Options: []byte(`{"queue":{"name":"bad name!"}}`), QueueTimestamp: now},
		{Index: 6, Task: "t", PayloadType: batch.PayloadTypeStore, Payload: &stored, QueueTimestamp: now},
	}
	setup := func(describe bool) (*Activities, *fakeExec, *fakeObjects, *int, contract.StepResult) {
		t.Helper()
		exec := &fakeExec{stepRes: store.StepResult{Batch: store.Batch{Status: batch.StatusProcessing}, Runs: claimed,
			Open: true, Ready: true, NextDelay: &delay, Promoted: &promoted}}
		objects := &fakeObjects{}
		calls := 0
		a := &Activities{Exec: exec, Objects: objects, OutputOffloadThreshold: 50,
			Temporal: describeCounter{fakeHistories: fakeHistories{pending: []*workflowpb.PendingActivityInfo{
				{ActivityId: "run-7", State: enumspb.PENDING_ACTIVITY_STATE_STARTED, Attempt: 1, LastStartedTime: timestamppb.New(now)},
			}}, calls: &calls}}
		step := in
		step.Describe = describe
		out, err := a.DispatchStep(context.Background(), step)
		if err != nil {
			t.Fatal(err)
		}
		return a, exec, objects, &calls, out
	}

	t.Run("claims under the calling run's name", func(t *testing.T) {
		_, exec, _, _, _ := setup(false)
		st := exec.step
		if st.BatchID != id || st.Owner != "r1:" || st.Token != "r1:4" || st.Claim != 3 || st.From != 2 || st.MaxBytes != maxClaimBytes || !st.Now.Equal(now) {
			t.Fatalf("step %+v", st)
		}
	})
	t.Run("stores small outputs inline and large ones in S3", func(t *testing.T) {
		_, exec, objects, _, _ := setup(false)
		rs := exec.step.Results
		if len(rs) != 3 {
			t.Fatalf("%d results, want 3", len(rs))
		}
		if rs[0].Index != 0 || *rs[0].Output != `{"ok":true}` || *rs[0].OutputType != "application/json" || rs[0].Attempts != 1 {
			t.Fatalf("inline output: %+v", rs[0])
		}
		key := batch.OutputKey(env, id, 1)
		if *rs[1].Output != key || *rs[1].OutputType != batch.PayloadTypeStore || objects.put[key] != large || objects.types[key] != "application/json" {
			t.Fatalf("offloaded output: %+v, S3 %q (%s)", rs[1], objects.put[key], objects.types[key])
		}
		if rs[2].ErrorCode == nil || *rs[2].ErrorCode != "TASK_FAILED" || *rs[2].ErrorMessage != "boom" || rs[2].Output != nil || rs[2].Status != batch.RunFailed {
			t.Fatalf("failed outcome: %+v", rs[2])
		}
	})
	t.Run("describes the workflow only when asked", func(t *testing.T) {
		_, exec, _, calls, _ := setup(false)
		if *calls != 0 || exec.step.Started != nil {
			t.Fatalf("not asked: %d describes, started %v", *calls, exec.step.Started)
		}
		_, exec, _, calls, _ = setup(true)
		if *calls != 1 || len(exec.step.Started) != 1 || exec.step.Started[0].Index != 7 {
			t.Fatalf("asked: %d describes, started %v", *calls, exec.step.Started)
		}
	})
	t.Run("reports the batch's state", func(t *testing.T) {
		_, _, _, _, out := setup(false)
		if out.Status != batch.StatusProcessing || !out.Open || !out.Ready || out.NextDelay == nil || !out.NextDelay.Equal(delay) || out.Promoted == nil || *out.Promoted != promoted {
			t.Fatalf("result %+v", out)
		}
	})
	t.Run("dispatches the runs that can run", func(t *testing.T) {
		_, _, _, _, out := setup(false)
		if len(out.Runs) != 2 {
			t.Fatalf("%d runs dispatched, want 2: %+v", len(out.Runs), out.Runs)
		}
		d := out.Runs[0]
		want := tasks.Envelope{ID: batch.RunID(id, 2), BatchID: id, Index: 2, Task: "t", PayloadType: batch.PayloadTypeJSON, Payload: `{"i":2}`, Attempt: 2}
		if fmt.Sprint(d.Envelope) != fmt.Sprint(want) || d.TaskQueue != tasks.TaskQueue(env, "") || d.MaxAttempts != 3 || d.StartToClose != time.Hour {
			t.Fatalf("dispatch %+v, want envelope %+v", d, want)
		}
		if s := out.Runs[1]; s.Envelope.Index != 6 || s.Envelope.Payload != stored || s.Envelope.PayloadURL != "https://s3.test/"+stored {
			t.Fatalf("stored payload: %+v", s.Envelope)
		}
	})
	t.Run("turns a run that cannot run into its outcome", func(t *testing.T) {
		_, _, _, _, out := setup(false)
		if len(out.Failed) != 1 || out.Failed[0].Index != 3 || out.Failed[0].Status != batch.RunFailed || out.Failed[0].ErrorCode != batch.ErrorInvalidOptions ||
			!strings.Contains(out.Failed[0].ErrorMessage, "options.queue.name") || !out.Failed[0].CompletedAt.Equal(now) {
			t.Fatalf("failed %+v", out.Failed)
		}
	})
}

// A dispatch step's errors are returned, for Temporal to retry the step.
func TestDispatchStepErrors(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	stored := batch.PacketPrefix("prod") + "p.json"
	in := contract.StepInput{BatchID: "batch_x", Env: "prod", RunID: "r", Now: now, Claim: 1,
		Results: []contract.RunOutcome{{Index: 0, Status: batch.RunCompleted, Output: []byte(`"xxxxxxxx"`), OutputType: "application/json"}}}
	down := errors.New("down")
	cases := []struct {
		name    string
		exec    *fakeExec
		objects *fakeObjects
		a       func(*Activities)
		want    string
	}{
		{"the store", &fakeExec{stepErr: down}, &fakeObjects{}, nil, "down"},
		{"an output's upload", &fakeExec{}, &fakeObjects{putErr: down}, nil, "offload outputs: down"},
		{"a stored payload's URL", &fakeExec{stepRes: store.StepResult{Runs: []store.ClaimedRun{{Index: 1, PayloadType: batch.PayloadTypeStore, Payload: &stored, QueueTimestamp: now}}}},
			&fakeObjects{}, func(a *Activities) { a.Objects.(*fakeObjects).presignErr = down }, "down"},
		{"the describe", &fakeExec{}, &fakeObjects{}, func(a *Activities) {
			calls := 0
			a.Temporal = describeCounter{calls: &calls, err: down}
		}, "describe batch_x-runs: down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{Exec: tc.exec, Objects: tc.objects, OutputOffloadThreshold: 4}
			step := in
			if tc.a != nil {
				tc.a(a)
			}
			if tc.name == "the describe" {
				step.Describe, step.WorkflowID = true, "batch_x-runs"
			}
			out, err := a.DispatchStep(context.Background(), step)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if len(out.Runs) != 0 || len(out.Failed) != 0 {
				t.Fatalf("a failed step returned %+v", out)
			}
		})
	}
}

// A claimed run's options shape its activity; a stored payload outside the
// batch's environment is never presigned.
func TestDispatchOptions(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	in := contract.StepInput{BatchID: "batch_x", Env: "prod", Now: now, MaxAttempts: 3, MaxDuration: time.Hour}
	run := func(opts string) store.ClaimedRun {
		r := store.ClaimedRun{Index: 1, Task: "t", PayloadType: batch.PayloadTypeJSON, QueueTimestamp: now}
		if opts != "" {
			r.Options = []byte(opts)
		}
		return r
	}
	a := &Activities{Objects: &fakeObjects{}}
	dispatch := func(t *testing.T, r store.ClaimedRun) contract.Dispatch {
		t.Helper()
		d, failed, err := a.dispatch(context.Background(), in, r, false)
		if err != nil || failed != nil {
			t.Fatalf("dispatch: %+v, %v", failed, err)
		}
		return d
	}
	t.Run("maxAttempts", func(t *testing.T) {
		if d := dispatch(t, run(`{"maxAttempts":7}`)); d.MaxAttempts != 7 {
			t.Fatalf("max attempts %d, want 7", d.MaxAttempts)
		}
	})
	t.Run("maxDuration", func(t *testing.T) {
		if d := dispatch(t, run(`{"maxDuration":90}`)); d.StartToClose != 90*time.Second {
			t.Fatalf("start-to-close %s, want 90s", d.StartToClose)
		}
	})
	t.Run("priority", func(t *testing.T) {
		if d := dispatch(t, run(`{"priority":10}`)); d.Priority != 2 {
			t.Fatalf("priority %d, want 2", d.Priority)
		}
		if d := dispatch(t, run("")); d.Priority != 0 {
			t.Fatalf("default priority %d, want 0", d.Priority)
		}
	})
	t.Run("queue", func(t *testing.T) {
		if d := dispatch(t, run(`{"queue":{"name":"gpu"}}`)); d.TaskQueue != tasks.TaskQueue("prod", "gpu") {
			t.Fatalf("task queue %q", d.TaskQueue)
		}
	})
	t.Run("a ttl counts from the end of the delay", func(t *testing.T) {
		r := run(`{"ttl":"1h"}`)
		until := now.Add(-10 * time.Minute)
		r.QueueTimestamp, r.DelayUntil = now.Add(-50*time.Minute), &until
		if d := dispatch(t, r); d.ScheduleToStart != 50*time.Minute {
			t.Fatalf("schedule-to-start %s, want 50m", d.ScheduleToStart)
		}
	})
	t.Run("mistyped options fail the run", func(t *testing.T) {
		_, failed, err := a.dispatch(context.Background(), in, run(`{"maxAttempts":"x"}`), false)
		if err != nil || failed == nil || failed.Status != batch.RunFailed || failed.ErrorCode != batch.ErrorInvalidOptions {
			t.Fatalf("got %+v, %v", failed, err)
		}
	})
	t.Run("a stored payload of another environment fails the run", func(t *testing.T) {
		r := run("")
		other := batch.PacketPrefix("other") + "p.json"
		r.PayloadType, r.Payload = batch.PayloadTypeStore, &other
		_, failed, err := a.dispatch(context.Background(), in, r, false)
		if err != nil || failed == nil || failed.Status != batch.RunFailed || failed.ErrorMessage != "stored payload outside the environment" {
			t.Fatalf("got %+v, %v", failed, err)
		}
	})
}

// FinishRuns completes or aborts the batch and names the parent still to
// be told.
func TestFinishRuns(t *testing.T) {
	t.Parallel()
	now := time.Now()
	parent := "parent-wf"
	counts := map[batch.RunStatus]int{batch.RunCompleted: 2, batch.RunFailed: 1}
	finished := func(st batch.Status) store.Batch {
		return store.Batch{ID: "batch_x", Status: st, ParentRunID: &parent, ResumeParentOnCompletion: true}
	}
	t.Run("completes the batch and reports its counts and parent", func(t *testing.T) {
		exec := &fakeExec{batch: finished(batch.StatusCompleted), counts: counts}
		out, err := (&Activities{Exec: exec}).FinishRuns(context.Background(), contract.FinishInput{BatchID: "batch_x"})
		if err != nil || !exec.completed || exec.aborted != "" {
			t.Fatalf("%v; completed %v, aborted %q", err, exec.completed, exec.aborted)
		}
		b := finished(batch.StatusCompleted)
		if out.Status != batch.StatusCompleted || out.RunCounts["COMPLETED"] != 2 || out.RunCounts["FAILED"] != 1 || out.Parent != b.ParentWorkflow() || out.Parent == "" {
			t.Fatalf("result %+v", out)
		}
	})
	t.Run("aborts with the reason", func(t *testing.T) {
		exec := &fakeExec{batch: finished(batch.StatusAborted), counts: counts}
		out, err := (&Activities{Exec: exec}).FinishRuns(context.Background(), contract.FinishInput{BatchID: "batch_x", Abort: "enough"})
		if err != nil || exec.aborted != "enough" || exec.completed || out.Status != batch.StatusAborted {
			t.Fatalf("%v; aborted %q, completed %v, %+v", err, exec.aborted, exec.completed, out)
		}
	})
	t.Run("an abort after completion leaves the batch completed", func(t *testing.T) {
		exec := &fakeExec{batch: finished(batch.StatusCompleted), finishErr: store.ErrNotPending, counts: counts}
		out, err := (&Activities{Exec: exec}).FinishRuns(context.Background(), contract.FinishInput{BatchID: "batch_x", Abort: "late"})
		if err != nil || out.Status != batch.StatusCompleted {
			t.Fatalf("%v, %+v", err, out)
		}
	})
	t.Run("no parent while runs are open", func(t *testing.T) {
		exec := &fakeExec{batch: finished(batch.StatusProcessing), counts: counts}
		if out, err := (&Activities{Exec: exec}).FinishRuns(context.Background(), contract.FinishInput{BatchID: "batch_x"}); err != nil || out.Parent != "" {
			t.Fatalf("%v, parent %q", err, out.Parent)
		}
	})
	t.Run("no parent once told or refused", func(t *testing.T) {
		told, refused := finished(batch.StatusCompleted), finished(batch.StatusCompleted)
		told.ParentNotifiedAt = &now
		reason := "not waiting"
		refused.ParentRefused = &reason
		for _, b := range []store.Batch{told, refused} {
			exec := &fakeExec{batch: b, counts: counts}
			if out, err := (&Activities{Exec: exec}).FinishRuns(context.Background(), contract.FinishInput{BatchID: "batch_x"}); err != nil || out.Parent != "" {
				t.Fatalf("%v, parent %q", err, out.Parent)
			}
		}
	})
	t.Run("store errors are returned", func(t *testing.T) {
		down := errors.New("down")
		for _, exec := range []*fakeExec{{finishErr: down}, {countsErr: down}} {
			if _, err := (&Activities{Exec: exec}).FinishRuns(context.Background(), contract.FinishInput{BatchID: "batch_x"}); !errors.Is(err, down) {
				t.Fatalf("error %v, want %v", err, down)
			}
		}
	})
}

// historyOf is a BatchRuns history, served as Temporal's iterator.
type historyOf struct {
	fakeHistories
	events []*historypb.HistoryEvent
	err    error
}

func (h historyOf) GetWorkflowHistory(context.Context, string, string, bool, enumspb.HistoryEventFilterType) client.HistoryEventIterator {
	return &eventIterator{events: h.events, err: h.err}
}

type eventIterator struct {
	events []*historypb.HistoryEvent
	err    error
}

func (it *eventIterator) HasNext() bool { return len(it.events) > 0 || it.err != nil }

func (it *eventIterator) Next() (*historypb.HistoryEvent, error) {
	if len(it.events) == 0 {
		err := it.err
		it.err = nil
		return nil, err
	}
	ev := it.events[0]
	it.events = it.events[1:]
	return ev, nil
}

func scheduled(id int64, activityID string) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventId: id, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
		Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{ActivityId: activityID}}}
}

func started(scheduledID int64, attempt int32, at time.Time) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, EventTime: timestamppb.New(at),
		Attributes: &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{ScheduledEventId: scheduledID, Attempt: attempt}}}
}

// ReconcileAttempts records, from the calling run's history, each run's
// started attempts under that run's claim; other activities are ignored.
func TestReconcileAttempts(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	in := contract.ReconcileInput{BatchID: "batch_x", WorkflowID: "batch_x-runs", RunID: "r1"}
	t.Run("records the started attempts of runs", func(t *testing.T) {
		exec := &fakeExec{}
		a := &Activities{Exec: exec, Temporal: historyOf{events: []*historypb.HistoryEvent{
			scheduled(5, "run-0"), scheduled(6, "run-1"), scheduled(7, "dispatch"),
			started(5, 1, t0), started(6, 1, t0), started(6, 2, t0.Add(time.Minute)), started(7, 1, t0),
		}}}
		if err := a.ReconcileAttempts(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		want := []store.RunStart{{Index: 0, Attempt: 1, StartedAt: t0}, {Index: 1, Attempt: 1, StartedAt: t0}, {Index: 1, Attempt: 2, StartedAt: t0.Add(time.Minute)}}
		if exec.owner != "r1:" || fmt.Sprint(exec.starts) != fmt.Sprint(want) {
			t.Fatalf("owner %q, starts %v, want %v", exec.owner, exec.starts, want)
		}
	})
	t.Run("without Temporal it records nothing", func(t *testing.T) {
		exec := &fakeExec{}
		if err := (&Activities{Exec: exec}).ReconcileAttempts(context.Background(), in); err != nil || exec.reconcile != 0 {
			t.Fatalf("%v, %d reconciles", err, exec.reconcile)
		}
	})
	t.Run("a history that cannot be read is an error", func(t *testing.T) {
		exec := &fakeExec{}
		a := &Activities{Exec: exec, Temporal: historyOf{err: errors.New("down")}}
		if err := a.ReconcileAttempts(context.Background(), in); err == nil || !strings.Contains(err.Error(), "history of batch_x-runs: down") || exec.reconcile != 0 {
			t.Fatalf("%v, %d reconciles", err, exec.reconcile)
		}
	})
}

// ParentNotified records the signal on the batch.
func TestParentNotified(t *testing.T) {
	t.Parallel()
	exec := &fakeExec{}
	if err := (&Activities{Exec: exec}).ParentNotified(context.Background(), "batch_x"); err != nil || !exec.notified {
		t.Fatalf("%v, notified %v", err, exec.notified)
	}
}

// fakeStarter records what HandOver and FinishRuns asked of BatchRuns.
type fakeStarter struct {
	notified []contract.HandOverInput
	woken    []string
	err      error
}

func (s *fakeStarter) Notify(_ context.Context, batchID, env string, h contract.Hint) error {
	from := 0
	if h.From != nil {
		from = *h.From
	}
	s.notified = append(s.notified, contract.HandOverInput{BatchID: batchID, Env: env, From: from})
	return s.err
}

func (s *fakeStarter) WakeBatchRuns(_ context.Context, batchID string, _ contract.Hint) error {
	s.woken = append(s.woken, batchID)
	return s.err
}

// FinishRuns of runs BatchIngest executed (Inline) wakes the batch's
// BatchRuns once the batch ended, for a BatchRuns a racing hint started;
// it wakes none otherwise.
func TestFinishRunsWakesARacingBatchRuns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status batch.Status
		inline bool
		wake   bool
	}{
		{"inline, completed", batch.StatusCompleted, true, true},
		{"inline, aborted", batch.StatusAborted, true, true},
		{"inline, runs still open", batch.StatusProcessing, true, false},
		{"BatchRuns' own finish", batch.StatusCompleted, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &fakeStarter{}
			exec := &fakeExec{batch: store.Batch{ID: "batch_x", Status: tc.status}, counts: map[batch.RunStatus]int{}}
			if _, err := (&Activities{Exec: exec, Starter: st}).FinishRuns(context.Background(), contract.FinishInput{BatchID: "batch_x", Inline: tc.inline}); err != nil {
				t.Fatal(err)
			}
			if woke := len(st.woken) == 1 && st.woken[0] == "batch_x"; woke != tc.wake || len(st.woken) > 1 {
				t.Fatalf("woken %v, want a wake: %v", st.woken, tc.wake)
			}
		})
	}
	t.Run("a failed wake fails the activity, which retries", func(t *testing.T) {
		t.Parallel()
		down := errors.New("temporal down")
		exec := &fakeExec{batch: store.Batch{ID: "batch_x", Status: batch.StatusCompleted}, counts: map[batch.RunStatus]int{}}
		if _, err := (&Activities{Exec: exec, Starter: &fakeStarter{err: down}}).FinishRuns(context.Background(), contract.FinishInput{BatchID: "batch_x", Inline: true}); !errors.Is(err, down) {
			t.Fatalf("error %v, want %v", err, down)
		}
	})
}

// HandOver starts the batch's BatchRuns from the cursor it is given, after
// the batch's row stops saying its BatchIngest executes the runs.
func TestHandOver(t *testing.T) {
	t.Parallel()
	st, exec := &fakeStarter{}, &fakeExec{}
	if err := (&Activities{Exec: exec, Starter: st}).HandOver(context.Background(), contract.HandOverInput{BatchID: "batch_x", Env: "dev", From: 42}); err != nil {
		t.Fatal(err)
	}
	if len(st.notified) != 1 || st.notified[0] != (contract.HandOverInput{BatchID: "batch_x", Env: "dev", From: 42}) {
		t.Fatalf("notified %+v", st.notified)
	}
	if exec.clearedHere != 1 {
		t.Fatalf("runs_here cleared %d times, want once", exec.clearedHere)
	}
	if err := (&Activities{}).HandOver(context.Background(), contract.HandOverInput{BatchID: "batch_x"}); !errors.Is(err, errNoStarter) {
		t.Fatalf("without a Starter: %v, want errNoStarter", err)
	}
}
