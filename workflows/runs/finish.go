package runs

import (
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

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
		FinishInput{BatchID: d.in.BatchID, Env: d.in.Env, Inline: d.inline}).Get(ctx, &res)
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
		fl, ok := d.inflight[i]
		switch {
		case !ok: // a slice's, taken with it
		case fl.runs != nil:
			d.sliceDone(dctx, fl)
		default:
			delete(d.inflight, i)
			d.results = append(d.results, outcome(dctx, i, fl.future, fl))
			d.c.Finished++
		}
	}
	d.cancelRetries(dctx)
	if len(d.results) > 0 {
		if _, err := d.dispatchStep(dctx, 0); err != nil {
			return Result{}, err
		}
	}
	var res FinishResult
	err := workflow.ExecuteLocalActivity(localOptions(dctx, "abort batch"), ActivityFinishRuns,
		FinishInput{BatchID: d.in.BatchID, Env: d.in.Env, Abort: d.abort, Inline: d.inline}).Get(dctx, &res)
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
	if err := workflow.ExecuteLocalActivity(localOptionsFor(ctx, "notify parent "+res.Parent, notifyParentFor), ActivityNotifyParent, in).Get(ctx, &out); err != nil {
		workflow.GetLogger(ctx).Warn("cannot notify the parent workflow", "parent", res.Parent, "error", err)
		return
	}
	if out.Refused != "" {
		workflow.GetLogger(ctx).Warn("parent workflow refused", "parent", res.Parent, "reason", out.Refused)
	}
}

// notifyParentUnchecked is the branch of histories without
// changeCheckedParent: it signals the parent unchecked, then records that
// with ParentNotified.
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
