package runs

import (
	"fmt"
	"time"

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

// Fallback intervals of a claim while runs wait for a queue
// (changeQueueLimits), should no hint come: from queueRetryFirst, doubling
// to queueRetryMax, back to the first after a claim that took runs.
const (
	queueRetryFirst = 5 * time.Second
	queueRetryMax   = time.Minute
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
//
// Register it as Workflow{Aside: a}.BatchRuns, with the Aside its worker's
// DispatchStep shares.
func (w Workflow) BatchRuns(ctx workflow.Context, in Input) (Result, error) {
	d := newDispatcher(in)
	d.aside = w.Aside
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return d.progress(), nil }); err != nil {
		return Result{}, err
	}
	return d.run(ctx)
}

// Workflow is BatchRuns with what it shares with its worker's local
// activities.
type Workflow struct {
	// Aside is where DispatchStep sets payloads aside for this workflow
	// (changePayloadOnce); nil: the runs of this worker fail their steps.
	Aside *Aside
}

// dispatcher is one BatchRuns run's state.
type dispatcher struct {
	aside  *Aside
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
	// once is changePayloadOnce's version, read at the first claim of the
	// run (onceKnown).
	once      bool
	onceKnown bool
	// queues is changeQueueLimits' version, read at the first step
	// (queuesKnown); blockedOn is the queue the last step left runs
	// waiting for ("" none), queueRetry the fallback timer's state.
	queues, queuesKnown bool
	blockedOn           string
	queueRetryArmed     bool
	queueRetryEvery     time.Duration
	// sliced is changeSliced's version, read when a step first claims runs
	// of a sliced task (slicedKnown).
	sliced      bool
	slicedKnown bool
	// retry are runs that failed in a slice, to dispatch alone at the next
	// step.
	retry []RetryRun
	// ref is changePayloadRef's version, read at the first claim that
	// sets payloads aside (refKnown).
	ref      bool
	refKnown bool
	// compact is changeCompactClaims' version, read at the first claim
	// that sets payloads aside (compactKnown).
	compact, compactKnown bool
	// activities is changeWindowActivities' version, read at the first
	// claim while a slice is in flight (activitiesKnown); sliceK is the
	// largest slice size of the last claim's runs (1: none sliced).
	activities, activitiesKnown bool
	sliceK                      int

	// inline: the runs execute inside another flow's workflow (Execute),
	// which hands them over instead of continuing as new (handedOver).
	inline, handedOver bool

	lastDescribe time.Time
	refreshArmed bool
	refreshEvery time.Duration
	delayAt      time.Time
	cancelDelay  workflow.CancelFunc
	waiting      string
}

// flight is a run's activity, or a slice's: every run of a slice in
// flight maps to the slice's flight.
type flight struct {
	future      workflow.Future
	cancel      workflow.CancelFunc
	maxAttempts int
	at          time.Time // dispatched
	// prior is the attempts a slice made of a run retried alone.
	prior int
	// runs are a slice's runs (nil: one run).
	runs []sliceRun
}

func newDispatcher(in Input) *dispatcher {
	d := &dispatcher{in: in, window: in.Concurrency, inflight: map[int]*flight{}, wake: true, sliceK: 1,
		status: batch.StatusProcessing, refreshEvery: refreshFirst, queueRetryEvery: queueRetryFirst}
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
		d.cancelRun(ctx, index)
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
			claim = d.window - d.busy(ctx) - len(d.retry)
			if claim > 0 && d.activities {
				// Free places are activities: a sliced task's take K runs.
				claim = min(claim*d.sliceK, maxClaimRuns)
			}
		}
		if claim > 0 || len(d.results) > 0 || d.describe || len(d.retry) > 0 {
			res, err := d.dispatchStep(ctx, claim)
			if err != nil {
				return Result{}, err
			}
			d.scheduleRuns(ctx, actCtx, sel, res.Runs)
			d.noteSliceSize(res.Runs)
			d.armDelay(ctx, sel, res.NextDelay)
			d.armRefresh(ctx, sel)
			d.armQueueRetry(ctx, sel)
			switch {
			case res.Status == batch.StatusAborted:
				d.requestAbort("batch aborted", "")
			case !res.Open && len(d.inflight) == 0 && len(d.results) == 0 && len(d.retry) == 0 &&
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
				if d.inline {
					if err := d.handOver(ctx); err != nil {
						return Result{}, err
					}
					d.forwardAfterHandOver(ctx, hints, aborts, cancels)
					return Result{}, nil
				}
				next := d.in
				c := d.c
				c.Segment++
				c.From = d.from
				next.Carried = &c
				return Result{}, workflow.NewContinueAsNewError(ctx, WorkflowName, next)
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

// maxClaimRuns bounds the runs one step claims when the window's free
// places are slices (changeWindowActivities): the step's result and the
// activities it schedules stay far below Temporal's payload limits.
const maxClaimRuns = 1000

// noteSliceSize keeps the largest slice size of a claim's runs, the runs
// one free place of the window takes at the next claim.
func (d *dispatcher) noteSliceSize(runs []Dispatch) {
	if len(runs) == 0 {
		return
	}
	d.sliceK = 1
	for _, r := range runs {
		if r.Prior == 0 {
			d.sliceK = max(d.sliceK, r.Slice)
		}
	}
}

// busy is what the window holds: the run activities in flight, a slice
// counting once (changeWindowActivities), or, in histories before it, the
// runs in flight.
func (d *dispatcher) busy(ctx workflow.Context) int {
	sliceFlights := map[*flight]bool{}
	plain := 0
	for _, fl := range d.inflight {
		if fl.runs == nil {
			plain++
		} else {
			sliceFlights[fl] = true
		}
	}
	if len(sliceFlights) == 0 {
		return plain // both count the same
	}
	if !d.activitiesKnown {
		d.activities = workflow.GetVersion(ctx, changeWindowActivities, workflow.DefaultVersion, 1) == 1
		d.activitiesKnown = true
	}
	if !d.activities {
		return len(d.inflight)
	}
	return plain + len(sliceFlights)
}

// waitingFor says, for the current details, what the run waits for.
func (d *dispatcher) waitingFor() string {
	switch {
	case d.blockedOn != "" && len(d.inflight) > 0:
		return "waiting for task workers; more runs wait for queue " + d.blockedOn
	case d.blockedOn != "":
		return "waiting for queue " + d.blockedOn + " (paused or at its concurrency limit)"
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
