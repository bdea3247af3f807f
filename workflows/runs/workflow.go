package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

// maxSegmentEvents continues a BatchRuns run as new even if the server
// never suggests it (its suggestion comes at 4,096 events by default).
const maxSegmentEvents = 10_000

// Refresh intervals of EXECUTING runs while runs are in flight: from
// refreshFirst, doubling to refreshMax.
const (
	refreshFirst = 2 * time.Second
	refreshMax   = time.Minute
)

// BatchRuns executes a batch's runs (workflow ID WorkflowID(batch)).
// It is started by the first enqueued chunk (SignalWithStart from the
// OffloadAndEnqueue activity), so runs start before the seal. Each of its
// steps is one local activity that records the outcomes of finished runs
// in bulk and claims the next open runs from PostgreSQL; each claimed run
// becomes one activity on the environment's task queue, typed by its task,
// within a window of Input.Concurrency. When the batch is sealed and no run
// is open it completes the batch, signals the parent workflow if asked and
// ends. An abort signal or a cancellation cancels the runs in flight and
// aborts the batch. It continues as new when suggested, after draining its
// window; PostgreSQL, not the workflow, holds which runs remain, so what it
// carries is a few counters.
func BatchRuns(ctx workflow.Context, in Input) (Result, error) {
	d := newDispatcher(in)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return d.progress(), nil }); err != nil {
		return Result{}, err
	}
	return d.run(ctx)
}

// dispatcher is one BatchRuns run's state.
type dispatcher struct {
	in     Input
	c      Carried
	window int

	inflight map[int]*flight
	results  []RunOutcome
	wake     bool // look for runs at the next step
	describe bool // refresh EXECUTING runs at the next step
	abort    string
	status   batch.Status
	step     int
	from     int // the claim cursor (Carried.From)

	lastDescribe time.Time
	refreshArmed bool
	refreshEvery time.Duration
	delayAt      time.Time
	cancelDelay  workflow.CancelFunc
	waiting      string
}

// flight is a run whose activity is scheduled.
type flight struct {
	future      workflow.Future
	cancel      workflow.CancelFunc
	maxAttempts int
	at          time.Time // dispatched
}

func newDispatcher(in Input) *dispatcher {
	d := &dispatcher{in: in, window: in.Concurrency, inflight: map[int]*flight{}, wake: true,
		status: batch.StatusProcessing, refreshEvery: refreshFirst}
	if d.window <= 0 {
		d.window = 100
	}
	if in.Carried != nil {
		d.c = *in.Carried
		d.abort = in.Carried.Abort
		d.from = in.Carried.From
	}
	return d
}

func (d *dispatcher) progress() Progress {
	return Progress{Status: string(d.status), Executing: len(d.inflight), Dispatched: d.c.Dispatched,
		Finished: d.c.Finished, Segment: d.c.Segment, Waiting: d.waiting}
}

func (d *dispatcher) report(ctx workflow.Context) {
	p := d.progress()
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("%s: %d runs finished, %d executing (window %d); segment %d; %s",
		p.Status, p.Finished, p.Executing, d.window, p.Segment, p.Waiting))
}

func (d *dispatcher) requestAbort(reason, fallback string) {
	flow.KeepFirst(&d.abort, reason, fallback)
}

func (d *dispatcher) run(ctx workflow.Context) (Result, error) {
	hints := workflow.GetSignalChannel(ctx, SignalRunsReady)
	aborts := workflow.GetSignalChannel(ctx, SignalAbort)
	cancels := workflow.GetSignalChannel(ctx, SignalCancelRun)
	actCtx, cancelAll := workflow.WithCancel(ctx)

	sel := workflow.NewSelector(ctx)
	sel.AddReceive(hints, func(c workflow.ReceiveChannel, _ bool) {
		var h Hint
		c.Receive(ctx, &h)
		d.hint(h)
	})
	sel.AddReceive(aborts, func(c workflow.ReceiveChannel, _ bool) {
		var reason string
		c.Receive(ctx, &reason)
		d.requestAbort(reason, "aborted by request")
	})
	sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
		var index int
		c.Receive(ctx, &index)
		if f, ok := d.inflight[index]; ok {
			f.cancel()
		}
	})
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {
		d.requestAbort("workflow canceled", "")
	})

	draining := false
	for {
		if d.abort != "" {
			cancelAll()
			return d.finishAborted(ctx)
		}
		info := workflow.GetInfo(ctx)
		if !draining && (info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > maxSegmentEvents) {
			draining = true
		}
		claim := 0
		if !draining && d.wake {
			claim = d.window - len(d.inflight)
		}
		if claim > 0 || len(d.results) > 0 || d.describe {
			res, err := d.dispatchStep(ctx, claim)
			if err != nil {
				return Result{}, err
			}
			for _, r := range res.Runs {
				d.schedule(ctx, actCtx, sel, r)
			}
			d.armDelay(ctx, sel, res.NextDelay)
			d.armRefresh(ctx, sel)
			switch {
			case res.Status == batch.StatusAborted:
				d.requestAbort("batch aborted", "")
			case !res.Open && len(d.inflight) == 0 && len(d.results) == 0 &&
				(res.Status == batch.StatusProcessing || res.Status == batch.StatusCompleted):
				r, done, err := d.complete(ctx, hints)
				if done || err != nil {
					return r, err
				}
			}
			continue
		}
		if draining && len(d.inflight) == 0 {
			if err := d.reconcile(ctx); err != nil {
				return Result{}, err
			}
			if d.drainForContinueAsNew(ctx, hints, aborts, cancels) {
				next := d.in
				c := d.c
				c.Segment++
				c.From = d.from
				next.Carried = &c
				return Result{}, workflow.NewContinueAsNewError(ctx, BatchRuns, next)
			}
			continue
		}
		d.waiting = d.waitingFor()
		d.report(ctx)
		sel.Select(ctx)
		for sel.HasPending() {
			sel.Select(ctx)
		}
	}
}

// waitingFor says, for the current details, what the run waits for.
func (d *dispatcher) waitingFor() string {
	switch {
	case len(d.inflight) > 0:
		return "waiting for task workers"
	case d.status == batch.StatusPending:
		return "waiting for items"
	case !d.delayAt.IsZero():
		return "waiting for delayed runs (next at " + d.delayAt.UTC().Format(time.RFC3339) + ")"
	}
	return "idle"
}

// hint takes a Hint: look for runs, from its From if lower.
func (d *dispatcher) hint(h Hint) {
	d.wake = true
	if h.From != nil && *h.From < d.from {
		d.from = max(*h.From, 0)
	}
}

// drainForContinueAsNew reads every signal delivered so far (they would be
// lost with the run) and reports whether the run may continue as new.
func (d *dispatcher) drainForContinueAsNew(ctx workflow.Context, hints, aborts, cancels workflow.ReceiveChannel) bool {
	var h Hint
	for hints.ReceiveAsync(&h) {
		d.hint(h) // the cursor it moves is carried
		h = Hint{}
	}
	for cancels.ReceiveAsync(nil) { // nothing is in flight
	}
	var reason string
	if aborts.ReceiveAsync(&reason) {
		d.requestAbort(reason, "aborted by request")
		return false
	}
	if ctx.Err() != nil {
		d.requestAbort("workflow canceled", "")
		return false
	}
	return true
}

func localOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         flow.RetryForever(flow.ErrTypeBatchNotPending),
		Summary:             summary,
	})
}

// dispatchStep records the buffered outcomes, refreshes EXECUTING runs when
// due and claims up to claim runs.
func (d *dispatcher) dispatchStep(ctx workflow.Context, claim int) (StepResult, error) {
	info := workflow.GetInfo(ctx)
	now := workflow.Now(ctx)
	d.step++
	in := StepInput{
		BatchID: d.in.BatchID, Env: d.in.Env,
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		Step: d.step, Claim: claim, From: d.from, Results: d.results,
		MaxAttempts: d.in.MaxAttempts, MaxDuration: d.in.MaxDuration, Now: now,
	}
	if len(d.inflight) > 0 && (d.describe || now.Sub(d.lastDescribe) >= refreshFirst) {
		in.Describe = true
		d.lastDescribe = now
	}
	d.describe = false
	var res StepResult
	summary := fmt.Sprintf("step %d: record %d, claim %d", d.step, len(d.results), claim)
	if err := workflow.ExecuteLocalActivity(localOptions(ctx, summary), ActivityDispatchStep, in).Get(ctx, &res); err != nil {
		return res, err
	}
	d.results = res.Failed
	d.c.Finished += len(res.Failed)
	d.status = res.Status
	got := len(res.Runs) + len(res.Failed)
	if claim > 0 && got < claim {
		d.wake = false // caught up: wait for a hint
	}
	for _, r := range res.Runs {
		d.from = max(d.from, r.Envelope.Index+1)
	}
	for _, o := range res.Failed {
		d.from = max(d.from, o.Index+1)
	}
	if res.Promoted != nil {
		d.hint(HintFrom(*res.Promoted)) // delayed runs became claimable
	}
	if res.Ready && !d.wake && len(d.inflight)+len(res.Runs) == 0 && (claim == 0 || d.from > 0) {
		// Runs wait and nothing runs: whatever hint was missed, look again
		// from the first run.
		d.hint(HintFrom(0))
	}
	return res, nil
}

// schedule starts the activity of one claimed run.
func (d *dispatcher) schedule(ctx, actCtx workflow.Context, sel workflow.Selector, r Dispatch) {
	index := r.Envelope.Index
	rctx, cancel := workflow.WithCancel(actCtx)
	opts := workflow.ActivityOptions{
		ActivityID:             fmt.Sprintf("run-%d", index),
		TaskQueue:              r.TaskQueue,
		StartToCloseTimeout:    r.StartToClose,
		ScheduleToStartTimeout: r.ScheduleToStart,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			MaximumAttempts:    int32(r.MaxAttempts),
		},
		Summary:  fmt.Sprintf("%s · %s · #%d", r.Envelope.ID, r.Envelope.Task, index),
		Priority: temporal.Priority{PriorityKey: r.Priority},
	}
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(rctx, opts), r.Envelope.Task, r.Envelope)
	fl := &flight{future: f, cancel: cancel, maxAttempts: r.MaxAttempts, at: workflow.Now(ctx)}
	d.inflight[index] = fl
	d.c.Dispatched++
	d.refreshEvery = refreshFirst
	sel.AddFuture(f, func(f workflow.Future) {
		if d.inflight[index] != fl {
			return // already collected by an abort
		}
		delete(d.inflight, index)
		cancel()
		d.results = append(d.results, outcome(ctx, index, f, fl))
		d.c.Finished++
	})
}

// armDelay makes sure a timer wakes the run when the next delayed run is
// due.
func (d *dispatcher) armDelay(ctx workflow.Context, sel workflow.Selector, next *time.Time) {
	if next == nil || (!d.delayAt.IsZero() && !next.Before(d.delayAt)) {
		return
	}
	if d.cancelDelay != nil {
		d.cancelDelay()
	}
	tctx, cancel := workflow.WithCancel(ctx)
	d.delayAt, d.cancelDelay = *next, cancel
	wait := max(next.Sub(workflow.Now(ctx)), time.Millisecond)
	t := workflow.NewTimerWithOptions(tctx, wait, workflow.TimerOptions{Summary: "next delayed run"})
	at := *next
	sel.AddFuture(t, func(f workflow.Future) {
		if f.Get(ctx, nil) == nil && d.delayAt.Equal(at) {
			d.delayAt, d.cancelDelay = time.Time{}, nil
			d.wake = true
		}
	})
}

// armRefresh keeps one timer pending while runs are in flight, so that
// runs a worker started show as EXECUTING even when none finishes for a
// while; the interval doubles up to refreshMax.
func (d *dispatcher) armRefresh(ctx workflow.Context, sel workflow.Selector) {
	if d.refreshArmed || len(d.inflight) == 0 {
		return
	}
	d.refreshArmed = true
	t := workflow.NewTimerWithOptions(ctx, d.refreshEvery, workflow.TimerOptions{Summary: "refresh executing runs"})
	sel.AddFuture(t, func(workflow.Future) {
		d.refreshArmed = false
		d.refreshEvery = min(2*d.refreshEvery, refreshMax)
		if len(d.inflight) > 0 {
			d.describe = true
		}
	})
}

// outcome turns a run activity's result into the run's outcome.
func outcome(ctx workflow.Context, index int, f workflow.Future, fl *flight) RunOutcome {
	now := workflow.Now(ctx)
	o := RunOutcome{Index: index, Attempts: 1, CompletedAt: now, Latency: now.Sub(fl.at)}
	var raw converter.RawValue
	err := f.Get(ctx, &raw)
	if err == nil {
		o.Status = batch.RunCompleted
		o.Output, o.OutputType = outputOf(raw)
		return o
	}
	var actErr *temporal.ActivityError
	if errors.As(err, &actErr) && actErr.RetryState() == enumspb.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED {
		o.Attempts = fl.maxAttempts
	}
	var canceled *temporal.CanceledError
	var timeout *temporal.TimeoutError
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &canceled):
		o.Status, o.ErrorCode, o.ErrorMessage, o.Attempts = batch.RunCanceled, batch.ErrorCanceled, "canceled", 0
	case errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
		o.Status, o.ErrorCode, o.Attempts = batch.RunExpired, batch.ErrorTTLExpired, 0
		o.ErrorMessage = "no task worker started the run within its ttl"
	case errors.As(err, &timeout):
		o.Status, o.ErrorCode = batch.RunTimedOut, batch.ErrorMaxDuration
		o.ErrorMessage = "the attempt ran longer than maxDuration (" + timeout.TimeoutType().String() + ")"
	case errors.As(err, &app):
		o.Status, o.ErrorCode, o.ErrorMessage = batch.RunFailed, app.Type(), app.Message()
		if o.ErrorCode == "" {
			o.ErrorCode = batch.ErrorTaskFailed
		}
	default:
		o.Status, o.ErrorCode, o.ErrorMessage = batch.RunFailed, batch.ErrorTaskFailed, err.Error()
	}
	return o
}

// outputOf returns a result payload as output text and type: JSON results
// as their JSON text, an empty result as none, bytes as a base64 JSON
// string of type application/octet-stream.
func outputOf(raw converter.RawValue) (json.RawMessage, string) {
	p := raw.Payload()
	if p == nil {
		return nil, ""
	}
	switch enc := string(p.GetMetadata()["encoding"]); enc {
	case "json/plain", "json/protobuf":
		return json.RawMessage(p.GetData()), batch.OutputTypeJSON
	case "binary/null", "":
		return nil, ""
	default:
		b, _ := json.Marshal(p.GetData())
		if enc == "binary/plain" {
			return b, "application/octet-stream"
		}
		return b, "application/x-temporal-" + enc
	}
}

// reconcile records exact attempt counts and start times of the runs this
// run dispatched, from its history.
func (d *dispatcher) reconcile(ctx workflow.Context) error {
	if d.c.Dispatched == 0 {
		return nil
	}
	info := workflow.GetInfo(ctx)
	in := ReconcileInput{BatchID: d.in.BatchID, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}
	return workflow.ExecuteLocalActivity(localOptions(ctx, "reconcile attempts"), ActivityReconcileAttempts, in).Get(ctx, nil)
}

// complete marks the batch COMPLETED and tells its parent. done is false
// when the batch turned out not to be complete (a replay reopened it, or a
// run is still open): the run then goes on.
func (d *dispatcher) complete(ctx workflow.Context, hints workflow.ReceiveChannel) (Result, bool, error) {
	if err := d.reconcile(ctx); err != nil {
		return Result{}, false, err
	}
	var res FinishResult
	err := workflow.ExecuteLocalActivity(localOptions(ctx, "complete batch"), ActivityFinishRuns,
		FinishInput{BatchID: d.in.BatchID, Env: d.in.Env}).Get(ctx, &res)
	if err != nil {
		return Result{}, false, err
	}
	d.status = res.Status
	if res.Status != batch.StatusCompleted {
		d.wake = true
		return Result{}, false, nil
	}
	d.notifyParent(ctx, res)
	if hints.ReceiveAsync(nil) {
		d.wake = true // replayed meanwhile
		return Result{}, false, nil
	}
	return d.result(ctx, res), true, nil
}

// finishAborted collects the runs in flight (their activities were
// cancelled), records their outcomes and aborts the batch.
func (d *dispatcher) finishAborted(ctx workflow.Context) (Result, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	indexes := make([]int, 0, len(d.inflight))
	for i := range d.inflight {
		indexes = append(indexes, i)
	}
	slices.Sort(indexes)
	for _, i := range indexes {
		fl := d.inflight[i]
		delete(d.inflight, i)
		d.results = append(d.results, outcome(dctx, i, fl.future, fl))
		d.c.Finished++
	}
	if len(d.results) > 0 {
		if _, err := d.dispatchStep(dctx, 0); err != nil {
			return Result{}, err
		}
	}
	var res FinishResult
	err := workflow.ExecuteLocalActivity(localOptions(dctx, "abort batch"), ActivityFinishRuns,
		FinishInput{BatchID: d.in.BatchID, Env: d.in.Env, Abort: d.abort}).Get(dctx, &res)
	if err != nil {
		return Result{}, err
	}
	d.status = res.Status
	d.notifyParent(dctx, res)
	return d.result(dctx, res), nil
}

// notifyParent tells the batch's parent workflow that the batch ended,
// once: the NotifyParent local activity signals it only when it runs and
// belongs to the batch's environment, under that environment's key.
// Histories from before changeCheckedParent replay the unchecked signal.
func (d *dispatcher) notifyParent(ctx workflow.Context, res FinishResult) {
	if res.Parent == "" {
		return
	}
	if workflow.GetVersion(ctx, changeCheckedParent, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		d.notifyParentUnchecked(ctx, res)
		return
	}
	in := NotifyParentInput{BatchID: d.in.BatchID, Env: d.in.Env, Parent: res.Parent,
		Status: string(res.Status), RunCounts: res.RunCounts}
	var out NotifyParentResult
	if err := workflow.ExecuteLocalActivity(localOptions(ctx, "notify parent "+res.Parent), ActivityNotifyParent, in).Get(ctx, &out); err != nil {
		workflow.GetLogger(ctx).Warn("cannot notify the parent workflow", "parent", res.Parent, "error", err)
		return
	}
	if out.Refused != "" {
		workflow.GetLogger(ctx).Warn("parent workflow refused", "parent", res.Parent, "reason", out.Refused)
	}
}

// notifyParentUnchecked is notifyParent before changeCheckedParent.
func (d *dispatcher) notifyParentUnchecked(ctx workflow.Context, res FinishResult) {
	msg := BatchCompleted{BatchID: d.in.BatchID, Status: string(res.Status), RunCounts: res.RunCounts}
	if err := workflow.SignalExternalWorkflow(ctx, res.Parent, "", SignalBatchCompleted, msg).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("cannot signal the parent workflow", "parent", res.Parent, "error", err)
		return
	}
	if err := workflow.ExecuteLocalActivity(localOptions(ctx, "parent notified"), ActivityParentNotified, d.in.BatchID).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("cannot record the parent notification", "error", err)
	}
}

func (d *dispatcher) result(ctx workflow.Context, res FinishResult) Result {
	if err := workflow.UpsertTypedSearchAttributes(ctx, flow.SearchAttrBatchState.ValueSet(string(res.Status))); err != nil {
		workflow.GetLogger(ctx).Warn("cannot update the BatchState search attribute", "error", err)
	}
	d.waiting = "done"
	d.report(ctx)
	return Result{BatchID: d.in.BatchID, Status: string(res.Status), RunCounts: res.RunCounts, Segments: d.c.Segment + 1}
}

// Changes to BatchRuns that alter its commands, for workflow.GetVersion:
// histories recorded before a change replay the old branch.
const (
	// changeCheckedParent: the parent is signalled by the NotifyParent
	// local activity (checked: running, BatchEnv equal to the batch's
	// environment; encrypted under the environment's key) instead of a
	// SignalExternalWorkflow command.
	changeCheckedParent = "checked-parent"
)
