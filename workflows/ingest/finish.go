package ingest

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

func (w *ingest) sealActivity(ctx workflow.Context) workflow.Future {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          "seal",
		Summary:             fmt.Sprintf("seal %d runs", w.in.RunCount),
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         flow.RetryForever(flow.ErrTypeBatchNotPending),
	})
	return workflow.ExecuteActivity(actx, ActivitySeal, SealInput{BatchID: w.in.BatchID, Env: w.in.Env, From: w.sealFrom})
}

// sealAbortable runs the Seal activity as the final durable step while
// the selector keeps listening: an abort, a cancellation or the seal
// timeout cancels a Seal that has not succeeded (a PostgreSQL outage keeps
// it retrying) and ends the batch through Abort instead.
func (w *ingest) sealAbortable(ctx workflow.Context, sel workflow.Selector, items workflow.ReceiveChannel) (Result, error) {
	w.setState(ctx, StateSealing)
	sealCtx, cancelSeal := workflow.WithCancel(ctx)
	var res SealResult
	var err error
	done := false
	sel.AddFuture(w.sealActivity(sealCtx), func(f workflow.Future) {
		done = true
		err = f.Get(ctx, &res)
	})
	for !done && w.abortReason == "" {
		sel.Select(ctx)
	}
	if w.abortReason != "" && (!done || err != nil) {
		cancelSeal()
		return w.abort(ctx, items)
	}
	return w.sealed(ctx, items, res, err)
}

// sealSmall seals since changeLocalSmall: with a local activity in the
// same workflow task when nothing was staged, or whatever was staged since
// changeLocalStaged (unless an abort or a cancellation is already
// waiting); else, or when the local attempts fail, with the abortable Seal
// activity.
func (w *ingest) sealSmall(ctx workflow.Context, sel workflow.Selector, items, abort workflow.ReceiveChannel) (Result, error) {
	var reason string
	switch {
	case abort.ReceiveAsync(&reason):
		w.requestAbort(reason, "aborted by request")
		return w.abort(ctx, items)
	case ctx.Err() != nil:
		w.requestAbort("workflow canceled", "")
		return w.abort(ctx, items)
	}
	if w.c.InlineOnly || w.localStaged(ctx) {
		w.state = StateSealing
		w.report(ctx)
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: localTimeout,
			RetryPolicy:         localRetry(flow.ErrTypeBatchNotPending),
			Summary:             fmt.Sprintf("seal %d runs", w.in.RunCount),
		})
		here := w.runsHere(ctx)
		var res SealResult
		err := workflow.ExecuteLocalActivity(lctx, ActivitySeal, SealInput{BatchID: w.in.BatchID, Env: w.in.Env,
			InlineOnly: w.c.InlineOnly, From: w.sealFrom, RunsHere: here}).Get(ctx, &res)
		switch {
		case err == nil && here:
			return w.executeRuns(ctx, items, res)
		case err == nil || isErrorType(err, flow.ErrTypeBatchNotPending):
			return w.sealed(ctx, items, res, err)
		case ctx.Err() != nil:
			w.requestAbort("workflow canceled", "")
			return w.abort(ctx, items)
		}
		workflow.GetLogger(ctx).Warn("local seal failed; sealing with the activity", "error", err)
	}
	return w.sealAbortable(ctx, sel, items)
}

// runsHere reports whether this run executes the batch's runs itself
// (changeRunsHere): the batch is small enough, and its one chunk was
// enqueued by a local activity that told no BatchRuns (so none runs).
// The local seal that follows tells none either.
func (w *ingest) runsHere(ctx workflow.Context) bool {
	rh := w.in.RunsHere
	if w.runs == nil || rh == nil || w.in.RunCount > rh.MaxRuns || w.c.Run != 1 || w.c.NextActivity != 1 || w.sealFrom == nil {
		return false
	}
	return workflow.GetVersion(ctx, changeRunsHere, workflow.DefaultVersion, 1) == 1
}

// executeRuns executes the sealed batch's runs in this workflow (the run
// flow's executor) and ends with the batch: BatchState goes to PROCESSING,
// which is how Client-side routing (runs.Client) finds the runs here, and
// the executor sets the final state.
func (w *ingest) executeRuns(ctx workflow.Context, items workflow.ReceiveChannel, res SealResult) (Result, error) {
	w.setState(ctx, flow.StateProcessing)
	out, err := w.runs(ctx, w.in.BatchID, w.in.Env, w.in.RunsHere.Execution)
	if err != nil {
		return Result{}, err
	}
	w.discardLateChunks(ctx, items)
	w.state = StateSealed
	r := w.result(StateSealed)
	r.SealedAt = &res.SealedAt
	r.Executed = &out
	return r, nil
}

// seal runs the Seal activity: the final durable step (before
// changeAbortableSeal).
func (w *ingest) seal(ctx workflow.Context, items workflow.ReceiveChannel) (Result, error) {
	w.setState(ctx, StateSealing)
	var res SealResult
	err := w.sealActivity(ctx).Get(ctx, &res)
	return w.sealed(ctx, items, res, err)
}

// sealed ends the workflow after the Seal activity returned.
func (w *ingest) sealed(ctx workflow.Context, items workflow.ReceiveChannel, res SealResult, err error) (Result, error) {
	w.discardLateChunks(ctx, items)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == flow.ErrTypeBatchNotPending {
			w.abortReason = "aborted outside the workflow"
			w.setState(ctx, StateAborted)
			return w.result(StateAborted), nil
		}
		return Result{}, err
	}
	w.setState(ctx, StateSealed)
	r := w.result(StateSealed)
	r.SealedAt = &res.SealedAt
	return r, nil
}

// abort runs the Abort activity (also when the workflow was canceled).
func (w *ingest) abort(ctx workflow.Context, items workflow.ReceiveChannel) (Result, error) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	w.setState(ctx, StateAborting)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          "abort",
		Summary:             w.abortReason,
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         flow.RetryForever(),
	})
	var res AbortResult
	if err := workflow.ExecuteActivity(actx, ActivityAbort, AbortInput{BatchID: w.in.BatchID, Env: w.in.Env, Reason: w.abortReason}).Get(ctx, &res); err != nil {
		return Result{}, err
	}
	w.discardLateChunks(ctx, items)
	if res.Sealed {
		w.setState(ctx, StateSealed)
		return w.result(StateSealed), nil
	}
	w.setState(ctx, StateAborted)
	return w.result(StateAborted), nil
}

// discardLateChunks reads chunks that arrived after the batch was complete
// or aborted, so they are dropped on purpose rather than reported as
// unhandled signals.
func (w *ingest) discardLateChunks(ctx workflow.Context, items workflow.ReceiveChannel) {
	for {
		var ch batch.ChunkRef
		if !items.ReceiveAsync(&ch) {
			return
		}
		w.c.ChunksReceived++
	}
}
