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

// localRetryFor bounds the retries of BatchRuns' local activities: in
// effect never (RetryForever), so a PostgreSQL outage delays a batch and
// does not fail its workflow. A local activity's retries otherwise end at
// its schedule-to-close timeout, which the SDK sets to the start-to-close
// one (a minute: about six attempts) when it is not given; the options of
// a local activity are not in its marker, so this changes no history.
const localRetryFor = 10 * 365 * 24 * time.Hour

func localOptions(ctx workflow.Context, summary string) workflow.Context {
	return localOptionsFor(ctx, summary, localRetryFor)
}

// notifyParentFor bounds NotifyParent's retries: telling the parent is
// not a step the batch waits on (it has ended), and a cause that does not
// pass (a worker without the environment's key) must not hold BatchRuns
// open; after it the failure is logged and the workflow ends.
const notifyParentFor = 10 * time.Minute

// localOptionsFor is localOptions with retries for at most retryFor.
func localOptionsFor(ctx workflow.Context, summary string, retryFor time.Duration) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: retryFor,
		RetryPolicy:            flow.RetryForever(flow.ErrTypeBatchNotPending),
		Summary:                summary,
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
	queues := d.queueLimits(ctx)
	in.Retry, d.retry = d.retry, nil
	if claim > 0 || len(in.Retry) > 0 {
		in.Aside = d.payloadOnce(ctx)
		in.ByRef = in.Aside && d.payloadRef(ctx)
		in.Compact = in.Aside && d.compactClaims(ctx)
	}
	var res StepResult
	summary := fmt.Sprintf("step %d: record %d, claim %d", d.step, len(d.results), claim)
	if len(in.Retry) > 0 {
		summary += fmt.Sprintf(", retry %d", len(in.Retry))
	}
	if err := workflow.ExecuteLocalActivity(localOptions(ctx, summary), ActivityDispatchStep, in).Get(ctx, &res); err != nil {
		return res, err
	}
	if res.Claimed != nil {
		res.Runs = res.Claimed.Dispatches(d.in.BatchID)
	}
	d.restorePayloads(ctx, in, res.Runs)
	d.results = res.Failed
	d.c.Finished += len(res.Failed)
	d.status = res.Status
	got := len(res.Runs) + len(res.Failed) - len(in.Retry)
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
	if queues && claim > 0 {
		d.blocked(res, got)
	}
	if res.Ready && !d.wake && len(d.inflight)+len(res.Runs) == 0 && (claim == 0 || d.from > 0) && d.blockedOn == "" {
		// Runs wait and nothing runs: whatever hint was missed, look again
		// from the first run (runs waiting for a queue are woken by its
		// hint or the fallback timer instead).
		d.hint(HintFrom(0))
	}
	return res, nil
}

// queueLimits reports whether this run takes changeQueueLimits' path.
func (d *dispatcher) queueLimits(ctx workflow.Context) bool {
	if !d.queuesKnown {
		d.queues = workflow.GetVersion(ctx, changeQueueLimits, workflow.DefaultVersion, 1) == 1
		d.queuesKnown = true
	}
	return d.queues
}

// blocked takes what a claiming step (that got runs of the claim) says of
// runs waiting for their queue: the cursor stays at the first of them, and
// a step that got runs although some wait looks again at once (the runs
// behind those waiting may be free).
func (d *dispatcher) blocked(res StepResult, got int) {
	if got > 0 {
		d.queueRetryEvery = queueRetryFirst
	}
	d.blockedOn = ""
	if res.Blocked == nil {
		return
	}
	d.from = min(d.from, max(*res.Blocked, 0))
	d.blockedOn = res.BlockedQueue
	if got > 0 {
		d.wake = true
	}
}

// armQueueRetry keeps one timer pending while runs wait for a queue and
// nothing else will make the run look again: the fallback should the hint
// of the step that frees a slot be lost.
func (d *dispatcher) armQueueRetry(ctx workflow.Context, sel workflow.Selector) {
	if !d.queues || d.queueRetryArmed || d.blockedOn == "" || d.wake {
		return
	}
	d.queueRetryArmed = true
	t := workflow.NewTimerWithOptions(ctx, d.queueRetryEvery, workflow.TimerOptions{Summary: "claim again: runs wait for queue " + d.blockedOn})
	sel.AddFuture(t, func(workflow.Future) {
		d.queueRetryArmed = false
		d.queueRetryEvery = min(2*d.queueRetryEvery, queueRetryMax)
		if d.blockedOn != "" {
			d.wake = true
		}
	})
}

// payloadOnce reports whether this run takes changePayloadOnce's path.
func (d *dispatcher) payloadOnce(ctx workflow.Context) bool {
	if !d.onceKnown {
		d.once = workflow.GetVersion(ctx, changePayloadOnce, workflow.DefaultVersion, 1) == 1
		d.onceKnown = true
	}
	return d.once
}

// payloadRef reports whether this run takes changePayloadRef's path.
func (d *dispatcher) payloadRef(ctx workflow.Context) bool {
	if !d.refKnown {
		d.ref = workflow.GetVersion(ctx, changePayloadRef, workflow.DefaultVersion, 1) == 1
		d.refKnown = true
	}
	return d.ref
}

// compactClaims reports whether this run takes changeCompactClaims' path.
func (d *dispatcher) compactClaims(ctx workflow.Context) bool {
	if !d.compactKnown {
		d.compact = workflow.GetVersion(ctx, changeCompactClaims, workflow.DefaultVersion, 1) == 1
		d.compactKnown = true
	}
	return d.compact
}

// restorePayloads puts back the payloads the step set aside into the
// envelopes its marker carries without them (with StepInput.Compact, the
// whole envelopes). A replay leaves them out: the
// activity commands they go into were sent already, and a replayed command
// is matched by its activity id and type, not its input.
func (d *dispatcher) restorePayloads(ctx workflow.Context, in StepInput, runs []Dispatch) {
	if !in.Aside || workflow.IsReplaying(ctx) || !slices.ContainsFunc(runs, func(r Dispatch) bool { return r.PayloadAside }) {
		return
	}
	var payloads map[int]aside
	ok := d.aside != nil
	if ok {
		payloads, ok = d.aside.take(in)
	}
	if !ok {
		// Not in this process's Aside (cannot happen when the worker shares
		// one Aside between DispatchStep and BatchRuns: a local activity runs
		// where its workflow task does). Failing the task runs the step again.
		panic(fmt.Sprintf("the payloads of step %d were not set aside", in.Step))
	}
	for k := range runs {
		if runs[k].PayloadAside {
			p := payloads[runs[k].Envelope.Index]
			if p.envelope != nil {
				runs[k].Envelope = *p.envelope
				continue
			}
			runs[k].Envelope.Payload = p.payload
			if p.url != "" {
				runs[k].Envelope.PayloadURL = p.url
			}
		}
	}
}

// schedule starts the activity of one claimed run.
func (d *dispatcher) schedule(ctx, actCtx workflow.Context, sel workflow.Selector, r Dispatch) {
	index := r.Envelope.Index
	rctx, cancel := workflow.WithCancel(actCtx)
	opts := workflow.ActivityOptions{
		ActivityID:             RunActivityID(index, r.Prior),
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
	fl := &flight{future: f, cancel: cancel, maxAttempts: r.MaxAttempts, at: workflow.Now(ctx), prior: r.Prior}
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
		if d.queues && d.blockedOn != "" {
			d.wake = true // its slot is free once the outcome is recorded
		}
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
	o := RunOutcome{Index: index, Attempts: fl.prior + 1, CompletedAt: now, Latency: now.Sub(fl.at)}
	var raw converter.RawValue
	var err error
	if fl.runs == nil {
		err = f.Get(ctx, &raw)
	} else {
		err = f.Get(ctx, nil) // a slice's failure, for each of its runs
	}
	if err == nil {
		o.Status = batch.RunCompleted
		o.Output, o.OutputType = outputOf(raw)
		return o
	}
	var actErr *temporal.ActivityError
	if errors.As(err, &actErr) && actErr.RetryState() == enumspb.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED {
		o.Attempts = fl.prior + fl.maxAttempts
	}
	var canceled *temporal.CanceledError
	var timeout *temporal.TimeoutError
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &canceled):
		o.Status, o.ErrorCode, o.ErrorMessage, o.Attempts = batch.RunCanceled, batch.ErrorCanceled, "canceled", fl.prior
	case errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
		o.Status, o.ErrorCode, o.Attempts = batch.RunExpired, batch.ErrorTTLExpired, fl.prior
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
