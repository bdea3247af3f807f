package runs

import (
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/workflows/flow"
)

// Execute executes a sealed batch's runs inside the calling workflow, as
// BatchRuns would (same steps, activities, completion and parent signal),
// and returns when the batch ends. It is the flow.RunsExecutor BatchIngest
// uses for a small batch, so that the batch needs one workflow execution
// instead of two. Signals for the runs (SignalRunsReady, SignalAbort,
// SignalCancelRun) reach it on the calling workflow's channels; Client
// routes them there while that workflow runs with BatchState PROCESSING.
// Where BatchRuns would continue as new, Execute drains its window and
// hands the rest to the batch's BatchRuns workflow (HandOver) instead.
func (w Workflow) Execute(ctx workflow.Context, batchID, env string, x flow.Execution) (flow.RunsOutcome, error) {
	d := newDispatcher(Input{BatchID: batchID, Env: env, Execution: x})
	d.aside = w.Aside
	d.inline = true
	res, err := d.run(ctx)
	switch {
	case err != nil:
		return flow.RunsOutcome{}, err
	case d.handedOver:
		return flow.RunsOutcome{HandedOver: true}, nil
	}
	return flow.RunsOutcome{Status: res.Status, RunCounts: res.RunCounts}, nil
}

// handOver starts (or signals) the batch's BatchRuns from the claim
// cursor: Execute's run grew too long to go on, and it has no window in
// flight (the runs are in PostgreSQL).
func (d *dispatcher) handOver(ctx workflow.Context) error {
	in := HandOverInput{BatchID: d.in.BatchID, Env: d.in.Env, From: d.from}
	if err := workflow.ExecuteLocalActivity(localOptions(ctx, "hand the runs over to BatchRuns"), ActivityHandOver, in).Get(ctx, nil); err != nil {
		return err
	}
	d.handedOver = true
	d.waiting = "handed over to " + WorkflowID(d.in.BatchID)
	d.report(ctx)
	return nil
}

// forwardAfterHandOver passes on the signals that reached the calling
// workflow while HandOver ran: the API routed them here (it runs, with
// BatchState PROCESSING), and a HandOver that outlives a workflow task
// (PostgreSQL slow) lets them in after the last drain, to end with the
// workflow unread. An abort and a hint go to BatchRuns, which has the runs
// now; a cancelled run needs nothing (none was in flight here, and the
// store recorded the cancel). Versioned (changeHandOverForwards) only when
// a signal waits, so a hand-over without one records nothing more.
func (d *dispatcher) forwardAfterHandOver(ctx workflow.Context, hints, aborts, cancels workflow.ReceiveChannel) {
	if hints.Len()+aborts.Len() == 0 {
		return
	}
	if workflow.GetVersion(ctx, changeHandOverForwards, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	to := WorkflowID(d.in.BatchID)
	// Each round's sends yield: what comes meanwhile is passed on by the
	// next round, and the last check before the return does not yield.
	for hints.Len()+aborts.Len() > 0 {
		for cancels.ReceiveAsync(nil) {
		}
		var sends []workflow.Future
		var reason string
		if aborts.ReceiveAsync(&reason) {
			for aborts.ReceiveAsync(nil) {
			}
			sends = append(sends, workflow.SignalExternalWorkflow(ctx, to, "", SignalAbort, reason))
		}
		if h, ok := mergeHints(hints); ok {
			sends = append(sends, workflow.SignalExternalWorkflow(ctx, to, "", SignalRunsReady, h))
		}
		for _, f := range sends {
			if err := f.Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Warn("could not pass a signal on to BatchRuns", "error", err)
			}
		}
	}
}

// mergeHints reads every hint waiting on hints into one: sealed if any
// was, from the lowest From.
func mergeHints(hints workflow.ReceiveChannel) (Hint, bool) {
	var merged Hint
	got := false
	for {
		var h Hint
		if !hints.ReceiveAsync(&h) {
			return merged, got
		}
		got = true
		merged.Sealed = merged.Sealed || h.Sealed
		if h.From != nil && (merged.From == nil || *h.From < *merged.From) {
			merged.From = h.From
		}
	}
}
