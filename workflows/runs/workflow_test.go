package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/workflows/flow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
	"github.com/streambatch/streambatch/tasks/batchwait"
	"github.com/streambatch/streambatch/workflows/flow/flowtest"
)

// fakeExec stands in for PostgreSQL behind BatchRuns' local activities in
// these unit tests of the workflow logic.
type fakeExec struct {
	aside    Aside // shared with the workflow under test
	mu       sync.Mutex
	status   batch.Status
	runs     map[int]batch.RunStatus
	claimed  map[int]string
	outcomes map[int]RunOutcome
	steps    int
	maxClaim int
	parent   string
	notified bool
	told     *NotifyParentInput // what NotifyParent was asked
	// payloads gives each run the payload "payload-<index>"; the step then
	// sets them aside when asked, and counts the asks and the payloads its
	// results (the markers) still carried.
	payloads    bool
	asides      int
	markedBytes int
	// limit, when set, is a queue limit ("q") that every run is under:
	// at most limit runs claimed and not final, external of them held by
	// other batches; holding counts the most this batch held at once.
	limit, external, holding int
	// slice, above 1, makes every task sliced by that size; taskOf, when
	// set, names each run's task; retries are the runs sent back to be
	// retried alone.
	slice   int
	taskOf  func(int) string
	retries []RetryRun
	// refs sends the payloads of even runs by reference ("ref-<index>" in
	// PayloadURL) when the step allows it (StepInput.ByRef, counted).
	refs   bool
	byRefs int
	// claimSteps counts the steps that claimed runs, claimBytes the
	// bytes of their results as the marker records them.
	claimSteps, claimBytes int
	// down fails that many steps first (PostgreSQL unavailable).
	down int
}

func newFakeExec(n int) *fakeExec {
	f := &fakeExec{status: batch.StatusProcessing, runs: map[int]batch.RunStatus{}, claimed: map[int]string{}, outcomes: map[int]RunOutcome{}}
	for i := range n {
		f.runs[i] = batch.RunQueued
	}
	return f
}

func (f *fakeExec) step(ctx context.Context, in StepInput) (StepResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down > 0 {
		f.down--
		return StepResult{}, errors.New("store: connection refused")
	}
	f.steps++
	for _, o := range in.Results {
		if !f.runs[o.Index].Final() {
			f.runs[o.Index] = o.Status
			f.outcomes[o.Index] = o
		}
	}
	out := StepResult{Status: f.status}
	var open []int
	for i, s := range f.runs {
		if !s.Final() {
			open = append(open, i)
		}
	}
	slices.Sort(open)
	out.Open = len(open) > 0
	f.maxClaim = max(f.maxClaim, in.Claim)
	held := f.external
	for _, i := range open {
		if f.claimed[i] != "" {
			held++
		}
	}
	for _, i := range open {
		if len(out.Runs) >= in.Claim {
			break
		}
		if f.limit > 0 && f.claimed[i] == "" && held >= f.limit {
			if out.Blocked == nil {
				out.Blocked, out.BlockedQueue = &i, "q"
			}
			continue
		}
		if f.claimed[i] == "" {
			held++
		}
		if c := f.claimed[i]; c != "" && c[:len(in.RunID)] == in.RunID {
			continue // in flight in this run
		}
		f.claimed[i] = in.RunID + ":x"
		task := "ok"
		if i%5 == 4 {
			task = "fail"
		}
		if f.taskOf != nil {
			task = f.taskOf(i)
		}
		out.Runs = append(out.Runs, Dispatch{TaskQueue: "runs.dev", MaxAttempts: 2, StartToClose: time.Minute, Slice: f.slice,
			Envelope: tasks.Envelope{ID: batch.RunID(in.BatchID, i), BatchID: in.BatchID, Index: i, Task: task, Attempt: 1}})
		e := &out.Runs[len(out.Runs)-1].Envelope
		switch {
		case f.refs && in.ByRef && i%2 == 0:
			e.PayloadType, e.PayloadURL, e.PayloadRefType = tasks.PayloadTypeStore, fmt.Sprintf("ref-%d", i), tasks.PayloadTypeJSON
		case f.payloads || f.refs:
			e.Payload = fmt.Sprintf("payload-%d", i)
		}
	}
	f.holding = max(f.holding, held-f.external)
	for _, r := range in.Retry {
		f.retries = append(f.retries, r)
		task := "ok"
		if f.taskOf != nil {
			task = f.taskOf(r.Index)
		}
		out.Runs = append(out.Runs, Dispatch{TaskQueue: "runs.dev", MaxAttempts: 2 - r.Prior, StartToClose: time.Minute, Prior: r.Prior,
			Envelope: tasks.Envelope{ID: batch.RunID(in.BatchID, r.Index), BatchID: in.BatchID, Index: r.Index, Task: task, Attempt: r.Attempt}})
	}
	if in.Aside && len(out.Runs) > 0 {
		f.asides++
		if in.ByRef {
			f.byRefs++
		}
		f.aside.SetStep(in, &out)
	}
	for _, r := range out.Runs {
		f.markedBytes += len(r.Envelope.Payload) + len(r.Envelope.PayloadURL)
	}
	if len(out.Runs)+len(out.Claimed.Dispatches(in.BatchID)) > 0 {
		b, _ := json.Marshal(out)
		f.claimSteps, f.claimBytes = f.claimSteps+1, f.claimBytes+len(b)
	}
	return out, nil
}

func (f *fakeExec) finish(ctx context.Context, in FinishInput) (FinishResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.Abort != "" {
		f.status = batch.StatusAborted
		for i, s := range f.runs {
			if !s.Final() {
				f.runs[i] = batch.RunCanceled
			}
		}
	} else {
		open := false
		for _, s := range f.runs {
			open = open || !s.Final()
		}
		if !open && f.status == batch.StatusProcessing {
			f.status = batch.StatusCompleted
		}
	}
	res := FinishResult{Status: f.status, RunCounts: map[string]int{}}
	for _, s := range f.runs {
		res.RunCounts[string(s)]++
	}
	if f.status.Terminal() && !f.notified {
		res.Parent = f.parent
	}
	return res, nil
}

func (f *fakeExec) notifyParent(ctx context.Context, in NotifyParentInput) (NotifyParentResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notified, f.told = true, &in
	return NotifyParentResult{}, nil
}

func reconcileNothing(ctx context.Context, in ReconcileInput) error { return nil }

type runsHarness struct {
	env  *testsuite.TestWorkflowEnvironment
	exec *fakeExec
	mu   sync.Mutex
	ran  map[int]int    // attempts per index
	got  map[int]string // payload per index, as the task received it
	urls map[int]string // payload URL per index, as the task received it
	hold chan struct{}
}

func newRunsHarness(t *testing.T, n int) *runsHarness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	h := &runsHarness{env: flowtest.NewEnv(&s), exec: newFakeExec(n), ran: map[int]int{}, got: map[int]string{}, urls: map[int]string{}}
	h.env.RegisterWorkflowWithOptions(Workflow{Aside: &h.exec.aside}.BatchRuns, workflow.RegisterOptions{Name: WorkflowName})
	h.env.RegisterActivityWithOptions(h.exec.step, activity.RegisterOptions{Name: ActivityDispatchStep})
	h.env.RegisterActivityWithOptions(h.exec.finish, activity.RegisterOptions{Name: ActivityFinishRuns})
	h.env.RegisterActivityWithOptions(h.exec.notifyParent, activity.RegisterOptions{Name: ActivityNotifyParent})
	h.env.RegisterActivityWithOptions(reconcileNothing, activity.RegisterOptions{Name: ActivityReconcileAttempts})
	h.env.RegisterActivityWithOptions(func(ctx context.Context, e tasks.Envelope) (map[string]int, error) {
		h.count(e.Index)
		h.received(e)
		if h.hold != nil {
			select {
			case <-h.hold:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return map[string]int{"index": e.Index}, nil
	}, activity.RegisterOptions{Name: "ok"})
	h.env.RegisterActivityWithOptions(func(ctx context.Context, e tasks.Envelope) (string, error) {
		h.count(e.Index)
		h.received(e)
		return "", temporal.NewApplicationError("always fails", "Boom")
	}, activity.RegisterOptions{Name: "fail"})
	return h
}

func (h *runsHarness) count(i int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ran[i]++
}

func (h *runsHarness) received(e tasks.Envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got[e.Index] = e.Payload
	h.urls[e.Index] = e.PayloadURL
}

func runsInput() Input {
	return Input{BatchID: "batch_test", Env: "dev", Execution: flow.Execution{Concurrency: 4, MaxAttempts: 3, MaxDuration: time.Minute}}
}

// Every run executes once per attempt within the window; outputs and
// errors reach the store; the batch completes and the parent is told
// through NotifyParent (which checks it), never by a signal of the
// workflow's own.
func TestBatchRunsExecutesAndCompletes(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 20)
	h.exec.parent = "parent-wf"
	h.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ string, id string, _ string, _ string, _ any) error {
			t.Errorf("BatchRuns signalled %s itself: an unchecked signal", id)
			return nil
		}).Maybe()
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != string(batch.StatusCompleted) || r.RunCounts["COMPLETED"] != 16 || r.RunCounts["FAILED"] != 4 {
		t.Fatalf("result %+v", r)
	}
	if h.exec.maxClaim > 4 {
		t.Fatalf("claimed %d at once with a window of 4", h.exec.maxClaim)
	}
	for i := range 20 {
		want := 1
		if i%5 == 4 {
			want = 2 // maxAttempts 2
		}
		if h.ran[i] != want {
			t.Fatalf("run %d executed %d times, want %d", i, h.ran[i], want)
		}
	}
	if o := h.exec.outcomes[3]; string(o.Output) != `{"index":3}` || o.OutputType != batch.OutputTypeJSON {
		t.Fatalf("outcome of 3: %+v", o)
	}
	// (The test suite reports no retry state, so Attempts stays a lower
	// bound here; ReconcileAttempts makes it exact from the history.)
	if o := h.exec.outcomes[4]; o.ErrorCode != "Boom" || o.ErrorMessage != "always fails" || o.Attempts < 1 {
		t.Fatalf("outcome of 4: %+v", o)
	}
	if told := h.exec.told; told == nil || told.BatchID != "batch_test" || told.Parent != "parent-wf" || told.Env != runsInput().Env ||
		told.Status != "COMPLETED" || told.RunCounts["COMPLETED"] != 16 {
		t.Fatalf("NotifyParent asked %+v", told)
	}
}

// BatchRuns' local activities retry for as long as PostgreSQL is down: a
// step that fails for minutes delays the batch, it does not fail the
// workflow (a local activity's retries end at its schedule-to-close
// timeout, which defaults to its start-to-close one).
func TestBatchRunsOutlastsAStoreOutage(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 5)
	h.exec.down = 12 // 1 + 2 + 4 + … s of backoff, capped at 1 min: ≈ 6 min
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("the workflow failed during the outage: %v", err)
	}
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil || r.Status != string(batch.StatusCompleted) {
		t.Fatalf("result %+v, %v", r, err)
	}
}

// A PENDING batch whose runs are done waits for the seal hint.
func TestBatchRunsWaitsForTheSeal(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 3)
	h.exec.status = batch.StatusPending
	h.env.RegisterDelayedCallback(func() {
		h.exec.mu.Lock()
		h.exec.status = batch.StatusProcessing
		h.exec.mu.Unlock()
		h.env.SignalWorkflow(SignalRunsReady, Hint{Sealed: true})
	}, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil || r.Status != "COMPLETED" {
		t.Fatalf("result %+v, %v", r, err)
	}
}

// An abort cancels the runs in flight; they and the unstarted ones end
// CANCELED.
func TestBatchRunsAbortCancelsInFlight(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 10)
	h.hold = make(chan struct{})
	// Activities hold the test clock to real time: abort soon.
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

// Continue-as-new waits for the window to drain and carries counters only.
func TestBatchRunsContinuesAsNew(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 12)
	h.exec.status = batch.StatusPending // keep it from completing
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, time.Second)
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Carried == nil || next.Carried.Segment != 1 || next.Carried.Dispatched != next.Carried.Finished {
		t.Fatalf("carried %+v", next.Carried)
	}
}

// The signal a parent workflow receives is the one package batchwait
// (what users' workflow code imports) waits for, with the same fields.
func TestParentSignalMatchesBatchwait(t *testing.T) {
	t.Parallel()
	if SignalBatchCompleted != batchwait.SignalName {
		t.Fatalf("%q != %q", SignalBatchCompleted, batchwait.SignalName)
	}
	raw, _ := json.Marshal(BatchCompleted{BatchID: "b", Status: "COMPLETED", RunCounts: map[string]int{"COMPLETED": 1}})
	var c batchwait.Completed
	if err := json.Unmarshal(raw, &c); err != nil || c.BatchID != "b" || c.Status != "COMPLETED" || c.RunCounts["COMPLETED"] != 1 {
		t.Fatalf("%s → %+v (%v)", raw, c, err)
	}
}

// Each run's payload reaches its task in the activity input while the
// step's result, recorded in the history as its marker, carries none
// (changePayloadOnce): every payload is written to the history once.
func TestBatchRunsPayloadEntersHistoryOnce(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 12)
	h.exec.payloads = true
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if h.exec.asides == 0 || h.exec.markedBytes != 0 {
		t.Fatalf("%d steps set payloads aside, their results carried %d payload bytes: want payloads in no result", h.exec.asides, h.exec.markedBytes)
	}
	for i := range 12 {
		if want := fmt.Sprintf("payload-%d", i); h.got[i] != want {
			t.Errorf("run %d received payload %q, want %q", i, h.got[i], want)
		}
	}
}

// Runs of a queue at its limit wait without a hint: the workflow claims
// again as its own runs end, and, when the slots are held by other
// batches that free them without a word, after its fallback timer
// (changeQueueLimits).
func TestBatchRunsWaitsForQueueSlots(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 12)
	h.exec.limit, h.exec.external = 2, 2
	var waiting string
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryProgress)
		var p Progress
		if err == nil {
			err = v.Get(&p)
		}
		if err != nil {
			t.Error(err)
		}
		waiting = p.Waiting
		h.exec.mu.Lock()
		h.exec.external = 0 // freed elsewhere; no hint comes
		h.exec.mu.Unlock()
	}, time.Minute)
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil || r.Status != "COMPLETED" {
		t.Fatalf("result %+v, %v", r, err)
	}
	if waiting != "waiting for queue q (paused or at its concurrency limit)" {
		t.Fatalf("while blocked the run reported %q", waiting)
	}
	if h.exec.holding > 2 {
		t.Fatalf("the batch held %d slots of a queue with limit 2", h.exec.holding)
	}
}

// A payload sent by reference reaches its task as the reference, in the
// activity input, while the step's marker carries neither payloads nor
// references (changePayloadRef); smaller payloads still go inline.
func TestBatchRunsReferenceEntersHistoryOnce(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 12)
	h.exec.refs = true
	h.env.ExecuteWorkflow(WorkflowName, runsInput())
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if h.exec.byRefs == 0 || h.exec.byRefs != h.exec.asides || h.exec.markedBytes != 0 {
		t.Fatalf("%d of %d steps allowed references, results carried %d bytes of payloads and references: want every claiming step, and none",
			h.exec.byRefs, h.exec.asides, h.exec.markedBytes)
	}
	for i := range 12 {
		want, wantURL := fmt.Sprintf("payload-%d", i), ""
		if i%2 == 0 {
			want, wantURL = "", fmt.Sprintf("ref-%d", i)
		}
		if h.got[i] != want || h.urls[i] != wantURL {
			t.Errorf("run %d received payload %q and URL %q, want %q and %q", i, h.got[i], h.urls[i], want, wantURL)
		}
	}
}

// A step's marker records its claimed runs compactly (changeCompactClaims):
// each activity shape once and runs as spans, where each run's Dispatch
// took hundreds of bytes; each task still receives its whole envelope. A
// run that predates the change keeps the Dispatch list.
func TestStepMarkerIsCompact(t *testing.T) {
	t.Parallel()
	perRun := map[bool]float64{}
	for _, compact := range []bool{true, false} {
		h := newRunsHarness(t, 200)
		h.exec.payloads = true
		h.exec.taskOf = func(int) string { return "ok" }
		if !compact {
			h.env.OnGetVersion(changeCompactClaims, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		in := runsInput()
		in.Concurrency = 100
		h.env.ExecuteWorkflow(WorkflowName, in)
		if err := h.env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		perRun[compact] = float64(h.exec.claimBytes) / 200
		for i := range 200 {
			if want := fmt.Sprintf("payload-%d", i); h.got[i] != want {
				t.Fatalf("compact %v: run %d received payload %q, want %q", compact, i, h.got[i], want)
			}
		}
	}
	t.Logf("claiming steps' results: %.1f bytes per run compact, %.1f before", perRun[true], perRun[false])
	if perRun[true] > perRun[false]/2 {
		t.Fatalf("claiming steps' results took %.1f bytes per run, %.1f before the change: want less than half", perRun[true], perRun[false])
	}
}

// A BatchRuns started to abort (runs.Client.Abort sets Carried.Abort)
// aborts before its first step: it claims and dispatches nothing.
func TestBatchRunsStartedToAbortClaimsNothing(t *testing.T) {
	t.Parallel()
	h := newRunsHarness(t, 5)
	in := runsInput()
	in.Carried = &Carried{Abort: "seal timeout"}
	h.env.ExecuteWorkflow(WorkflowName, in)
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil || r.Status != string(batch.StatusAborted) {
		t.Fatalf("result %+v, %v", r, err)
	}
	if h.exec.maxClaim != 0 || len(h.ran) != 0 {
		t.Fatalf("claimed up to %d, executed %v", h.exec.maxClaim, h.ran)
	}
}
