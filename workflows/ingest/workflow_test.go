package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
	"github.com/streambatch/streambatch/workflows/flow/flowtest"
)

// fakeRuns records what the mocked activities were asked to do; it stands
// in for PostgreSQL in these unit tests of the workflow logic only.
type fakeRuns struct {
	mu       sync.Mutex
	rows     map[int]batch.Item
	calls    []EnqueueInput
	sealed   bool
	sealIn   SealInput
	aborted  string
	fail     func(EnqueueInput) error
	dups     int
	inFlight int
	maxIn    int
	gate     func(inFlight int) // called with the count of running activities
}

func newFakeRuns() *fakeRuns { return &fakeRuns{rows: map[int]batch.Item{}} }

func (f *fakeRuns) enqueue(ctx context.Context, in EnqueueInput) (EnqueueResult, error) {
	f.mu.Lock()
	f.inFlight++
	f.maxIn = max(f.maxIn, f.inFlight)
	n := f.inFlight
	f.calls = append(f.calls, in)
	fail := f.fail
	gate := f.gate
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	if gate != nil {
		gate(n)
	}
	if fail != nil {
		if err := fail(in); err != nil {
			return EnqueueResult{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	inserted := 0
	if len(in.Chunk.Items) == 0 { // a staged chunk: record its indexes
		owned := in.Owned
		if owned == nil {
			owned = in.Chunk.Indexes
		}
		for _, r := range owned {
			for i := r[0]; i < r[1]; i++ {
				if _, dup := f.rows[i]; dup {
					f.dups++
				}
				f.rows[i] = batch.Item{Index: i}
				inserted++
			}
		}
		return EnqueueResult{Inserted: inserted}, nil
	}
	for _, it := range in.Chunk.Items {
		if in.Owned != nil && !in.Owned.Contains(it.Index) {
			continue
		}
		if _, dup := f.rows[it.Index]; !dup {
			f.rows[it.Index] = it
			inserted++
		}
	}
	return EnqueueResult{Inserted: inserted}, nil
}

func (f *fakeRuns) seal(ctx context.Context, in SealInput) (SealResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sealed = true
	f.sealIn = in
	return SealResult{SealedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

func (f *fakeRuns) abort(ctx context.Context, in AbortInput) (AbortResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aborted = in.Reason
	return AbortResult{}, nil
}

type harness struct {
	env  *testsuite.TestWorkflowEnvironment
	runs *fakeRuns
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOf(t, BatchIngest)
}

// newHarnessOf registers wf (a BatchIngest) as the workflow under test.
func newHarnessOf(t *testing.T, wf func(workflow.Context, Input) (Result, error)) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := flowtest.NewEnv(&s)
	f := newFakeRuns()
	env.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(f.enqueue, activity.RegisterOptions{Name: ActivityOffloadAndEnqueue})
	env.RegisterActivityWithOptions(f.seal, activity.RegisterOptions{Name: ActivitySeal})
	env.RegisterActivityWithOptions(f.abort, activity.RegisterOptions{Name: ActivityAbort})
	return &harness{env: env, runs: f}
}

// newHarnessFor returns a harness whose clock starts at the creation of a
// batch of runCount items, and that batch's input.
func newHarnessFor(t *testing.T, runCount int) (*harness, Input) {
	t.Helper()
	h, in := newHarness(t), input(runCount)
	h.env.SetStartTime(in.CreatedAt)
	return h, in
}

// oneChunkOf10 is a 10-item batch's one chunk, inline and staged.
func oneChunkOf10() map[string]batch.ChunkRef {
	return map[string]batch.ChunkRef{
		"inline": chunkOf(0, span(0, 10)...),
		"staged": {Stream: "s", Seq: 0, Indexes: batch.RangesOf(span(0, 10)), Key: "staging/dev/batch_test/s-000000.json"},
	}
}

// chunkOf builds an inline chunk of the given indexes.
func chunkOf(seq int, indexes ...int) batch.ChunkRef {
	items := make([]batch.Item, len(indexes))
	for k, i := range indexes {
		p := "payload"
		items[k] = batch.Item{Index: i, Task: "t", Payload: &p, PayloadType: batch.PayloadTypeJSON}
	}
	return batch.ChunkRef{Stream: "s", Seq: seq, Indexes: batch.RangesOf(append([]int(nil), indexes...)), Items: items}
}

func span(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func input(runCount int) Input {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return Input{BatchID: "batch_test", Env: "dev", RunCount: runCount, CreatedAt: created, SealDeadline: created.Add(30 * time.Minute), Window: 4}
}

// signalAt sends chunks at simulated offsets.
func (h *harness) signalAt(d time.Duration, chunks ...batch.ChunkRef) {
	h.env.RegisterDelayedCallback(func() {
		for _, c := range chunks {
			h.env.SignalWorkflow(SignalItems, c)
		}
	}, d)
}

func (h *harness) result(t *testing.T) Result {
	t.Helper()
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	var r Result
	if err := h.env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSealsWhenEveryIndexIsEnqueued(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env.SetStartTime(input(30).CreatedAt)
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...), chunkOf(1, span(20, 30)...))
	h.signalAt(time.Minute, chunkOf(2, span(10, 20)...))
	h.env.ExecuteWorkflow(BatchIngest, input(30))
	r := h.result(t)
	if r.State != StateSealed || r.Enqueued != 30 || r.SealedAt == nil || r.Runs != 1 {
		t.Fatalf("result = %+v", r)
	}
	if !h.runs.sealed || len(h.runs.rows) != 30 {
		t.Fatalf("sealed=%v rows=%d", h.runs.sealed, len(h.runs.rows))
	}
}

func TestFirstDeliveryOfAnIndexWins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env.SetStartTime(input(15).CreatedAt)
	first := chunkOf(0, span(0, 10)...)
	overlap := chunkOf(1, span(5, 15)...)
	for k := range overlap.Items {
		p := "second"
		overlap.Items[k].Payload = &p
	}
	h.signalAt(time.Second, first)
	h.signalAt(2*time.Second, overlap, chunkOf(2, span(0, 10)...)) // the last one is a pure duplicate
	h.env.ExecuteWorkflow(BatchIngest, input(15))
	r := h.result(t)
	if r.State != StateSealed || r.Enqueued != 15 {
		t.Fatalf("result = %+v", r)
	}
	if len(h.runs.calls) != 2 {
		t.Fatalf("want 2 enqueue activities (the duplicate chunk is dropped), got %d", len(h.runs.calls))
	}
	if got := h.runs.calls[1].Owned; len(got) != 1 || got[0] != (batch.Range{10, 15}) {
		t.Fatalf("overlapping chunk owns %v, want [10,15)", got)
	}
	for i := 5; i < 10; i++ {
		if *h.runs.rows[i].Payload != "payload" {
			t.Fatalf("index %d took the later payload %q", i, *h.runs.rows[i].Payload)
		}
	}
}

func TestWindowBoundsOutstandingActivities(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := input(60)
	in.Window = 3
	h.env.SetStartTime(in.CreatedAt)
	// Each activity waits (briefly, in real time) until the window is full,
	// so a broken window would show more than 3 running at once.
	h.runs.gate = func(int) {
		deadline := time.Now().Add(2 * time.Second)
		for h.runs.inFlightNow() < in.Window && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	var chunks []batch.ChunkRef
	for k := 0; k < 12; k++ {
		chunks = append(chunks, chunkOf(k, span(5*k, 5*k+5)...))
	}
	h.signalAt(time.Second, chunks...)
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateSealed || r.Enqueued != 60 {
		t.Fatalf("result = %+v", r)
	}
	if h.runs.maxIn != in.Window {
		t.Fatalf("max concurrent activities = %d, want exactly the window %d", h.runs.maxIn, in.Window)
	}
}

func (f *fakeRuns) inFlightNow() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inFlight
}

func TestContinueAsNewCarriesStateAndLosesNoChunk(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 40)
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...), chunkOf(1, span(10, 20)...))
	h.env.RegisterDelayedCallback(func() {
		h.env.SetContinueAsNewSuggested(true)
		// Arrives while the run drains: must be carried, not lost.
		h.env.SignalWorkflow(SignalItems, chunkOf(2, span(20, 30)...))
	}, time.Minute)
	h.env.ExecuteWorkflow(BatchIngest, in)
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("not completed")
	}
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	c := next.Carried
	if c == nil || c.Accepted.Len() != 30 || c.Enqueued != 20 || len(c.Queue) != 1 || c.Run != 1 || c.NextActivity != 2 {
		t.Fatalf("carried = %+v", c)
	}
	if got := c.Queue[0].Chunk.Indexes; got[0] != (batch.Range{20, 30}) {
		t.Fatalf("queued chunk covers %v", got)
	}

	// The next run picks up the queue and the rest of the stream.
	h2 := newHarness(t)
	h2.env.SetStartTime(in.CreatedAt.Add(time.Minute))
	h2.signalAt(time.Second, chunkOf(3, span(25, 40)...))
	h2.env.ExecuteWorkflow(BatchIngest, next)
	r := h2.result(t)
	if r.State != StateSealed || r.Enqueued != 40 || r.Runs != 2 {
		t.Fatalf("result = %+v", r)
	}
	if got := h2.runs.calls[0].Chunk.Indexes[0]; got != (batch.Range{20, 30}) {
		t.Fatalf("first activity of run 2 covers %v, want the carried chunk", got)
	}
	if got := h2.runs.calls[1].Owned; len(got) != 1 || got[0] != (batch.Range{30, 40}) {
		t.Fatalf("second chunk owns %v", got)
	}
}

func TestSealTimeoutAborts(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 20)
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateAborted || r.Enqueued != 10 || h.runs.sealed {
		t.Fatalf("result = %+v sealed=%v", r, h.runs.sealed)
	}
	if h.runs.aborted == "" || r.Reason != h.runs.aborted {
		t.Fatalf("abort reason %q / %q", h.runs.aborted, r.Reason)
	}
}

func TestAbortSignal(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 20)
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(SignalAbort, "operator said so") }, time.Minute)
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateAborted || r.Reason != "operator said so" || h.runs.aborted != "operator said so" {
		t.Fatalf("result = %+v", r)
	}
}

func TestFailedChunkReopensItsIndexes(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 10)
	var once sync.Once
	h.runs.fail = func(EnqueueInput) error {
		var err error
		once.Do(func() {
			err = temporal.NewNonRetryableApplicationError("staged chunk is missing", ErrTypeInvalidChunk, nil)
		})
		return err
	}
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	var accepted *batch.IndexSet
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryAccepted)
		if err != nil {
			t.Error(err)
			return
		}
		accepted = &batch.IndexSet{}
		if err := v.Get(accepted); err != nil {
			t.Error(err)
		}
		// The client re-sends the stream.
		h.env.SignalWorkflow(SignalItems, chunkOf(1, span(0, 10)...))
	}, time.Minute)
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateSealed || r.Enqueued != 10 {
		t.Fatalf("result = %+v", r)
	}
	if accepted == nil || accepted.Len() != 0 {
		t.Fatalf("after the failure the accepted set should be empty, got %v", accepted)
	}
}

// A chunk refused because the batch left PENDING (aborted through the API
// while no workflow existed, the first chunk racing the abort) ends the
// workflow at once through the abort path, not at the seal deadline.
func TestBatchNoLongerPendingEndsTheWorkflow(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 20)
	h.runs.fail = func(EnqueueInput) error {
		return temporal.NewNonRetryableApplicationError("batch is aborted", flow.ErrTypeBatchNotPending, nil)
	}
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateAborted || h.runs.aborted == "" || h.runs.sealed {
		t.Fatalf("result = %+v, aborted %q, sealed %v", r, h.runs.aborted, h.runs.sealed)
	}
	if end := h.env.Now(); !end.Before(in.CreatedAt.Add(time.Minute)) {
		t.Fatalf("ended at %s, a minute or more after the create: it waited for the seal deadline", end.Sub(in.CreatedAt))
	}
}

func TestProgressQueryAndFailedCount(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 10)
	c := chunkOf(0, span(0, 5)...)
	c.Failed = []int{1, 3}
	h.signalAt(time.Second, c)
	var p Progress
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryProgress)
		if err != nil {
			t.Error(err)
			return
		}
		_ = v.Get(&p)
		h.env.SignalWorkflow(SignalItems, chunkOf(1, span(5, 10)...))
	}, time.Minute)
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if p.Accepted != 5 || p.Enqueued != 5 || p.Failed != 2 || p.RunCount != 10 || p.State != StateReceiving {
		t.Fatalf("progress = %+v", p)
	}
	if r.Failed != 2 {
		t.Fatalf("result = %+v", r)
	}
}

// Cancelling the workflow (an operator's "Request Cancellation") aborts the
// batch through the Abort activity.
func TestCancellationAborts(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 20)
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, time.Minute)
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateAborted || h.runs.aborted != "workflow canceled" {
		t.Fatalf("result = %+v, abort reason %q", r, h.runs.aborted)
	}
}

// A 1,000,000-item batch in 1,000 staged chunks, with continue-as-new
// suggested in every run while chunks keep arriving: the chain of runs
// enqueues every index exactly once and seals; nothing is lost in a drain.
func TestMillionItemsAcrossContinueAsNew(t *testing.T) {
	t.Parallel()
	const n, per = 1_000_000, 1000
	runs := newFakeRuns()
	in := input(n)
	in.Window = 50
	next := 0 // next chunk to deliver
	staged := func(k int) batch.ChunkRef {
		return batch.ChunkRef{Stream: "s", Seq: k, Indexes: batch.Ranges{{k * per, (k + 1) * per}}, Key: fmt.Sprintf("staging/dev/b/s-%06d.json", k), Size: 300}
	}
	var result Result
	for run := 1; ; run++ {
		if run > 20 {
			t.Fatal("no seal after 20 runs")
		}
		var s testsuite.WorkflowTestSuite
		env := flowtest.NewEnv(&s)
		env.RegisterWorkflowWithOptions(BatchIngest, workflow.RegisterOptions{Name: WorkflowName})
		env.RegisterActivityWithOptions(runs.enqueue, activity.RegisterOptions{Name: ActivityOffloadAndEnqueue})
		env.RegisterActivityWithOptions(runs.seal, activity.RegisterOptions{Name: ActivitySeal})
		env.RegisterActivityWithOptions(runs.abort, activity.RegisterOptions{Name: ActivityAbort})
		env.SetStartTime(in.CreatedAt.Add(time.Duration(run) * time.Minute))
		// Each run gets 150 chunks; then continue-as-new is suggested and a
		// chunk arrives with it, which the run must carry. (The test
		// environment hands each signal its own workflow task and drops
		// signals sent after a run completes, so only the first signal
		// after the suggestion reaches this run; a real server fails such a
		// completion and redelivers, which the drain handles.)
		env.RegisterDelayedCallback(func() {
			for k := 0; k < 150 && next < n/per; k++ {
				env.SignalWorkflow(SignalItems, staged(next))
				next++
			}
		}, time.Second)
		env.RegisterDelayedCallback(func() {
			if next < n/per {
				env.SetContinueAsNewSuggested(true)
				env.SignalWorkflow(SignalItems, staged(next))
				next++
			} else {
				env.SignalWorkflow(SignalItems, staged(0)) // a late duplicate
			}
		}, 2*time.Second)
		env.ExecuteWorkflow(BatchIngest, in)
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			var nextIn Input
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &nextIn); err != nil {
				t.Fatal(err)
			}
			if raw, _ := json.Marshal(nextIn); len(raw) > 256<<10 {
				t.Fatalf("run %d carries %d bytes into the next", run, len(raw))
			}
			t.Logf("run %d: next=%d carried accepted=%d enqueued=%d queue=%d", run, next, nextIn.Carried.Accepted.Len(), nextIn.Carried.Enqueued, len(nextIn.Carried.Queue))
			in = nextIn
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := env.GetWorkflowResult(&result); err != nil {
			t.Fatal(err)
		}
		break
	}
	if result.State != StateSealed || result.Enqueued != n || len(runs.rows) != n || runs.dups != 0 || !runs.sealed {
		t.Fatalf("result %+v: %d rows, %d duplicate inserts", result, len(runs.rows), runs.dups)
	}
	if result.Runs < 5 {
		t.Fatalf("only %d runs: continue-as-new was not exercised", result.Runs)
	}
	t.Logf("1,000,000 items in %d chunks sealed over %d runs", n/per, result.Runs)
}

// A cancellation while Seal keeps failing (a PostgreSQL outage) must end
// the batch through Abort, not leave it PENDING with a canceled workflow.
func TestCancelDuringSealAborts(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 10)
	h.env.OnActivity(ActivitySeal, mock.Anything, mock.Anything).Return(SealResult{}, errors.New("postgres is down"))
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, time.Minute)
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateAborted || h.runs.aborted != "workflow canceled" {
		t.Fatalf("result = %+v, abort reason %q", r, h.runs.aborted)
	}
}

// The seal timeout still applies while Seal retries.
func TestSealTimeoutWhileSealRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := input(10)
	in.SealDeadline = in.CreatedAt.Add(2 * time.Minute)
	h.env.SetStartTime(in.CreatedAt)
	h.env.OnActivity(ActivitySeal, mock.Anything, mock.Anything).Return(SealResult{}, errors.New("postgres is down"))
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateAborted || !strings.HasPrefix(h.runs.aborted, "seal timeout") {
		t.Fatalf("result = %+v, abort reason %q", r, h.runs.aborted)
	}
}

// A cancellation that arrives with a chunk while continue-as-new is
// suggested aborts the batch. (The test suite runs the workflow between the
// two, so the same-task case is TestDevServerCancelWithChunkWhileDraining.)
func TestCancelWhileDrainingAborts(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 30)
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	h.env.RegisterDelayedCallback(func() {
		h.env.SetContinueAsNewSuggested(true)
		h.env.CancelWorkflow()
		h.env.SignalWorkflow(SignalItems, chunkOf(1, span(10, 20)...))
	}, time.Minute)
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateAborted || h.runs.aborted != "workflow canceled" {
		t.Fatalf("result = %+v, abort reason %q", r, h.runs.aborted)
	}
}

// activityCounts counts the activities the workflow started, local and
// regular, by name.
// activityCounts counts, by activity type, local activity attempts and
// regular activities scheduled (by activity ID: an attempt the test
// environment times out and retries on a loaded machine is the same
// activity).
type activityCounts struct {
	mu            sync.Mutex
	local, remote map[string]int
	seen          map[string]bool
}

func (h *harness) countActivities() *activityCounts {
	c := &activityCounts{local: map[string]int{}, remote: map[string]int{}, seen: map[string]bool{}}
	h.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []interface{}) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.local[info.ActivityType.Name]++
	})
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.seen[info.ActivityID] {
			c.seen[info.ActivityID] = true
			c.remote[info.ActivityType.Name]++
		}
	})
	return c
}

// A batch that arrives in one chunk, inline (changeLocalSmall) or staged
// (changeLocalStaged), is enqueued and sealed by local activities, with
// one BatchRuns hint (the seal's, carrying the chunk's first index); the
// seal skips the staging cleanup only when nothing was staged.
func TestOneChunkBatchRunsLocally(t *testing.T) {
	t.Parallel()
	for name, ch := range oneChunkOf10() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, in := newHarnessFor(t, 10)
			counts := h.countActivities()
			h.signalAt(time.Second, ch)
			h.env.ExecuteWorkflow(BatchIngest, in)
			r := h.result(t)
			if r.State != StateSealed || r.Enqueued != 10 {
				t.Fatalf("result = %+v", r)
			}
			if counts.local[ActivityOffloadAndEnqueue] != 1 || counts.local[ActivitySeal] != 1 || len(counts.remote) != 0 {
				t.Fatalf("local %v, regular %v: want one local enqueue and one local seal", counts.local, counts.remote)
			}
			if len(h.runs.calls) != 1 || !h.runs.calls[0].SkipNotify {
				t.Fatalf("enqueue calls %+v: want one that leaves the hint to the seal", h.runs.calls)
			}
			if s := h.runs.sealIn; s.InlineOnly != (ch.Key == "") || s.From == nil || *s.From != 0 {
				t.Fatalf("seal input %+v: want the hint from 0, the cleanup only after staging", s)
			}
		})
	}
}

// Local enqueue attempts that fail hand the chunk to the regular activity,
// which then notifies BatchRuns itself; the batch seals.
func TestLocalEnqueueFailureFallsBackToActivity(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 10)
	counts := h.countActivities()
	failures := 0
	h.runs.fail = func(EnqueueInput) error {
		if failures < 3 { // every local attempt
			failures++
			return errors.New("postgres is down")
		}
		return nil
	}
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...))
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateSealed || r.Enqueued != 10 || len(h.runs.rows) != 10 {
		t.Fatalf("result = %+v, %d rows", r, len(h.runs.rows))
	}
	if counts.local[ActivityOffloadAndEnqueue] != 3 || counts.remote[ActivityOffloadAndEnqueue] != 1 {
		t.Fatalf("local %v, regular %v: want 3 local attempts, then the activity", counts.local, counts.remote)
	}
	last := h.runs.calls[len(h.runs.calls)-1]
	if last.SkipNotify || h.runs.sealIn.From != nil {
		t.Fatalf("the regular enqueue must notify BatchRuns itself: %+v, seal %+v", last, h.runs.sealIn)
	}
}

// A staged chunk that is not the batch's last runs as a regular activity;
// the seal is local (changeLocalStaged) and deletes the staging.
func TestStagedChunkSealsWithCleanup(t *testing.T) {
	t.Parallel()
	h, in := newHarnessFor(t, 20)
	counts := h.countActivities()
	staged := batch.ChunkRef{Stream: "s", Seq: 1, Indexes: batch.RangesOf(span(10, 20)), Key: "staging/dev/batch_test/s/1"}
	h.signalAt(time.Second, chunkOf(0, span(0, 10)...), staged)
	h.env.ExecuteWorkflow(BatchIngest, in)
	r := h.result(t)
	if r.State != StateSealed || r.Enqueued != 20 {
		t.Fatalf("result = %+v", r)
	}
	if counts.remote[ActivityOffloadAndEnqueue] != 1 || counts.local[ActivityOffloadAndEnqueue] != 1 || counts.local[ActivitySeal] != 1 || counts.remote[ActivitySeal] != 0 {
		t.Fatalf("local %v, regular %v: want the staged chunk regular, the inline one and the seal local", counts.local, counts.remote)
	}
	if h.runs.sealIn.InlineOnly {
		t.Fatal("the seal skipped the staging cleanup of a batch that staged a chunk")
	}
}
