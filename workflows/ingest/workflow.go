package ingest

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

// DefaultWindow bounds outstanding chunk activities when Input.Window is 0.
const DefaultWindow = 100

// BatchIngest is the per-batch workflow (ID = batch id). It receives chunk
// references on SignalItems, keeps the set of accepted indexes (the first
// chunk that delivers an index owns it), runs one OffloadAndEnqueue
// activity per chunk within its own window, and when every index has its
// run it runs Seal as the final durable step. A seal deadline, an abort
// signal or a cancellation ends it with Abort instead. When Temporal
// suggests continue-as-new it stops scheduling, waits for its activities,
// drains the signal channel and continues with the compact state in
// Input.Carried, so no chunk is lost.
func BatchIngest(ctx workflow.Context, in Input) (Result, error) {
	w := newIngest(ctx, in)
	if err := w.registerQueries(ctx); err != nil {
		return Result{}, err
	}
	return w.run(ctx)
}

// ingest is one run's state.
type ingest struct {
	in     Input
	c      Carried
	window int

	pending     int
	state       string
	abortReason string

	// small is changeLocalSmall's version, read once per run when first
	// needed (smallKnown).
	small      workflow.Version
	smallKnown bool
	// staged is changeLocalStaged's version, likewise.
	staged      workflow.Version
	stagedKnown bool
	// sealFrom goes into the Seal's hint when the last chunk's activity
	// left telling BatchRuns to it (EnqueueInput.SkipNotify).
	sealFrom *int
}

func newIngest(ctx workflow.Context, in Input) *ingest {
	w := &ingest{in: in, window: in.Window, state: StateReceiving}
	if w.window <= 0 {
		w.window = DefaultWindow
	}
	if in.Carried != nil {
		w.c = *in.Carried
	} else {
		w.c.InlineOnly = true
	}
	if w.c.Accepted == nil || w.c.Accepted.Cap() != in.RunCount {
		w.c.Accepted = batch.NewIndexSet(in.RunCount)
	}
	w.c.Run++
	return w
}

func (w *ingest) registerQueries(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) { return w.progress(), nil }); err != nil {
		return err
	}
	return workflow.SetQueryHandler(ctx, QueryAccepted, func() (*batch.IndexSet, error) { return w.c.Accepted, nil })
}

func (w *ingest) progress() Progress {
	return Progress{
		State: w.state, RunCount: w.in.RunCount, Accepted: w.c.Accepted.Len(), Enqueued: w.c.Enqueued,
		Failed: w.c.Failed, PendingActivities: w.pending, QueuedChunks: len(w.c.Queue),
		ChunksReceived: w.c.ChunksReceived, ChunksDeduplicated: w.c.ChunksDeduplicated, Run: w.c.Run,
	}
}

func (w *ingest) run(ctx workflow.Context) (Result, error) {
	logger := workflow.GetLogger(ctx)
	items := workflow.GetSignalChannel(ctx, SignalItems)
	abort := workflow.GetSignalChannel(ctx, SignalAbort)
	actCtx, cancelActivities := workflow.WithCancel(ctx)
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()

	sel := workflow.NewSelector(ctx)
	sel.AddReceive(items, func(c workflow.ReceiveChannel, _ bool) {
		var ch batch.ChunkRef
		c.Receive(ctx, &ch)
		w.accept(ctx, ch)
	})
	sel.AddReceive(abort, func(c workflow.ReceiveChannel, _ bool) {
		var reason string
		c.Receive(ctx, &reason)
		w.requestAbort(reason, "aborted by request")
	})
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {
		w.requestAbort("workflow canceled", "")
	})
	if d := w.in.SealDeadline.Sub(workflow.Now(ctx)); d > 0 {
		timer := workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: "seal timeout"})
		sel.AddFuture(timer, func(f workflow.Future) {
			if f.Get(ctx, nil) == nil {
				w.requestAbort(fmt.Sprintf("seal timeout: not all %d items arrived by %s", w.in.RunCount, w.in.SealDeadline.UTC().Format(time.RFC3339)), "")
			}
		})
	} else {
		w.requestAbort(fmt.Sprintf("seal timeout: not all %d items arrived by %s", w.in.RunCount, w.in.SealDeadline.UTC().Format(time.RFC3339)), "")
	}

	draining := false
	for {
		switch {
		case w.abortReason != "":
			cancelActivities()
			return w.abort(ctx, items)
		case w.c.Enqueued == w.in.RunCount && w.pending == 0:
			if w.localSmall(ctx) {
				return w.sealSmall(ctx, sel, items, abort)
			}
			if workflow.GetVersion(ctx, changeAbortableSeal, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				cancelTimer()
				return w.seal(ctx, items)
			}
			return w.sealAbortable(ctx, sel, items)
		}
		if !draining && workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			draining = true
			logger.Info("continue-as-new suggested: draining", "pending", w.pending, "queued", len(w.c.Queue))
		}
		if draining && w.pending == 0 {
			// Every signal delivered so far must be read before the run ends,
			// or it is lost with it.
			for {
				var ch batch.ChunkRef
				if !items.ReceiveAsync(&ch) {
					break
				}
				w.accept(ctx, ch)
			}
			var reason string
			if abort.ReceiveAsync(&reason) {
				w.requestAbort(reason, "aborted by request")
				continue
			}
			// A cancellation delivered with the last chunks would be lost
			// with this run: the next one does not inherit it.
			if ctx.Err() != nil && workflow.GetVersion(ctx, changeDrainSeesCancel, workflow.DefaultVersion, 1) == 1 {
				w.requestAbort("workflow canceled", "")
				continue
			}
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return Result{}, err
			}
			next := w.in
			carried := w.c
			next.Carried = &carried
			return Result{}, workflow.NewContinueAsNewError(ctx, BatchIngest, next)
		}
		if !draining || w.carryBytes() > maxCarryBytes {
			// While draining, the queue is carried into the next run's
			// input; keep working it off if it would make that input big.
			w.schedule(ctx, actCtx, sel)
		}
		w.report(ctx)
		sel.Select(ctx)
	}
}

// maxCarryBytes bounds the estimated size of the queue carried through
// continue-as-new (Temporal refuses payloads above 2 MiB). Chunk references
// are a few hundred bytes (staged) or a few KiB (a stream's inline tail), so
// only a pathological backlog reaches it; draining then works the queue down.
const maxCarryBytes = 1 << 20

// carryBytes estimates the encoded size of the queued chunk references.
func (w *ingest) carryBytes() int {
	n := 0
	for k := range w.c.Queue {
		n += 256 + 24*len(w.c.Queue[k].Chunk.Indexes) + 8*len(w.c.Queue[k].Chunk.Failed)
		if w.c.Queue[k].Chunk.Key == "" {
			n += int(w.c.Queue[k].Chunk.Size)
		}
	}
	return n
}

// requestAbort records the first abort reason.
func (w *ingest) requestAbort(reason, fallback string) {
	flow.KeepFirst(&w.abortReason, reason, fallback)
}

// report publishes live progress for Temporal UI.
func (w *ingest) report(ctx workflow.Context) {
	p := w.progress()
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("%s: %d/%d enqueued, %d failed, %d accepted; %d activities running, %d chunks queued; run %d",
		p.State, p.Enqueued, p.RunCount, p.Failed, p.Accepted, p.PendingActivities, p.QueuedChunks, p.Run))
}

func (w *ingest) setState(ctx workflow.Context, state string) {
	w.state = state
	if err := workflow.UpsertTypedSearchAttributes(ctx, flow.SearchAttrBatchState.ValueSet(state)); err != nil {
		workflow.GetLogger(ctx).Warn("cannot update the BatchState search attribute", "error", err)
	}
	w.report(ctx)
}

func (w *ingest) result(state string) Result {
	return Result{BatchID: w.in.BatchID, State: state, Enqueued: w.c.Enqueued, Failed: w.c.Failed, Runs: w.c.Run, Reason: w.abortReason}
}

// accept records a chunk's new indexes and queues it; a chunk that brings
// nothing new is a duplicate (a retried signal or a re-sent stream).
func (w *ingest) accept(ctx workflow.Context, ch batch.ChunkRef) {
	w.c.ChunksReceived++
	if ch.Key != "" {
		w.c.InlineOnly = false // its staged object is the seal's to delete
	}
	if !ch.Indexes.Valid(w.in.RunCount) || len(ch.Indexes) == 0 {
		workflow.GetLogger(ctx).Error("dropping malformed chunk", "stream", ch.Stream, "seq", ch.Seq)
		return
	}
	if w.abortReason != "" {
		return
	}
	owned := w.c.Accepted.AddRanges(ch.Indexes)
	if len(owned) == 0 {
		w.c.ChunksDeduplicated++
		return
	}
	work := Work{Chunk: ch, OwnedCount: owned.Count()}
	if work.OwnedCount != ch.Count() {
		work.Owned = owned
	}
	for _, i := range ch.Failed {
		if owned.Contains(i) {
			work.OwnedFailed++
		}
	}
	w.c.Queue = append(w.c.Queue, work)
}

// enqueueTimeout bounds one OffloadAndEnqueue attempt; a chunk is at most a
// few MiB and one insert, so attempts take well under a second.
// enqueueHeartbeat is how soon the chunk of a crashed worker is retried
// elsewhere: the activity heartbeats between its steps.
const (
	enqueueTimeout   = 2 * time.Minute
	enqueueHeartbeat = 10 * time.Second
)

// schedule starts activities for queued chunks while the window has room.
// Since changeLocalSmall an inline chunk runs as a local activity inside
// the workflow task that received it (no activity dispatch); if its local
// attempts fail it goes to the regular activity, which retries visibly.
func (w *ingest) schedule(ctx, actCtx workflow.Context, sel workflow.Selector) {
	for w.pending < w.window && len(w.c.Queue) > 0 {
		work := w.c.Queue[0]
		w.c.Queue = w.c.Queue[1:]
		w.c.NextActivity++
		in := EnqueueInput{BatchID: w.in.BatchID, Env: w.in.Env, Chunk: work.Chunk, Owned: work.Owned}
		id := fmt.Sprintf("chunk-%d", w.c.NextActivity)
		var f workflow.Future
		last := w.pending == 0 && len(w.c.Queue) == 0 && w.c.Accepted.Len() == w.in.RunCount
		local := work.Chunk.Key == "" && !work.Remote && w.localSmall(ctx)
		if !local && !work.Remote && last && w.localStaged(ctx) {
			local = true // the last chunk, staged (changeLocalStaged)
		}
		if local {
			if last {
				// The last chunk: the Seal that follows tells BatchRuns.
				in.SkipNotify = true
				from := work.firstIndex()
				w.sealFrom = &from
			}
			f = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(actCtx, workflow.LocalActivityOptions{
				StartToCloseTimeout: localTimeout,
				RetryPolicy:         localRetry(ErrTypeInvalidChunk, flow.ErrTypeBatchNotPending),
				Summary:             work.Chunk.Summary(),
			}), ActivityOffloadAndEnqueue, in)
		} else {
			f = workflow.ExecuteActivity(workflow.WithActivityOptions(actCtx, workflow.ActivityOptions{
				ActivityID:          id,
				Summary:             work.Chunk.Summary(),
				StartToCloseTimeout: enqueueTimeout,
				HeartbeatTimeout:    enqueueHeartbeat,
				RetryPolicy:         flow.RetryForever(ErrTypeInvalidChunk, flow.ErrTypeBatchNotPending),
			}), ActivityOffloadAndEnqueue, in)
		}
		w.pending++
		sel.AddFuture(f, func(f workflow.Future) {
			w.pending--
			var res EnqueueResult
			err := f.Get(ctx, &res)
			switch {
			case err == nil:
				w.c.Enqueued += work.OwnedCount
				w.c.Failed += work.OwnedFailed
			case temporal.IsCanceledError(err):
			case local && !isErrorType(err, ErrTypeInvalidChunk, flow.ErrTypeBatchNotPending):
				workflow.GetLogger(ctx).Warn("local enqueue failed; retrying it as an activity", "chunk", id, "error", err)
				work.Remote = true
				w.sealFrom = nil
				w.c.Queue = append([]Work{work}, w.c.Queue...)
			default:
				// Not retryable: give the indexes back so that a re-sent
				// stream can deliver them again.
				owned := work.Owned
				if owned == nil {
					owned = work.Chunk.Indexes
				}
				w.c.Accepted.RemoveRanges(owned)
				workflow.GetLogger(ctx).Error("chunk failed; its indexes are open again", "activity", id, "items", owned.String(), "error", err)
			}
		})
	}
}

// firstIndex is the lowest index the work inserts.
func (work Work) firstIndex() int {
	if len(work.Owned) > 0 {
		return work.Owned[0][0]
	}
	if len(work.Chunk.Indexes) > 0 {
		return work.Chunk.Indexes[0][0]
	}
	return 0
}

// Local attempts (changeLocalSmall) are few and short: a failure that
// outlasts them is handed to a regular activity, which retries for ever
// and shows its attempts in Temporal UI.
const localTimeout = 30 * time.Second

func localRetry(nonRetryable ...string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        500 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumAttempts:        3,
		NonRetryableErrorTypes: nonRetryable,
	}
}

// isErrorType reports an application error of one of the types.
func isErrorType(err error, types ...string) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && slices.Contains(types, app.Type())
}

// localSmall reports whether this run takes changeLocalSmall's paths.
func (w *ingest) localSmall(ctx workflow.Context) bool {
	if !w.smallKnown {
		w.small = workflow.GetVersion(ctx, changeLocalSmall, workflow.DefaultVersion, 1)
		w.smallKnown = true
	}
	return w.small == 1
}

// localStaged reports whether this run takes changeLocalStaged's paths.
func (w *ingest) localStaged(ctx workflow.Context) bool {
	if !w.stagedKnown {
		w.staged = workflow.GetVersion(ctx, changeLocalStaged, workflow.DefaultVersion, 1)
		w.stagedKnown = true
	}
	return w.staged == 1
}

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
		var res SealResult
		err := workflow.ExecuteLocalActivity(lctx, ActivitySeal, SealInput{BatchID: w.in.BatchID, Env: w.in.Env, InlineOnly: w.c.InlineOnly, From: w.sealFrom}).Get(ctx, &res)
		switch {
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

// Changes to BatchIngest that alter its commands, for workflow.GetVersion:
// histories recorded before a change replay the old branch.
const (
	// changeAbortableSeal: Seal runs while the abort signal, cancellation
	// and the seal timeout are still heard; any of them cancels it and
	// aborts (the Abort activity keeps a batch that Seal already sealed).
	changeAbortableSeal = "abortable-seal"
	// changeDrainSeesCancel: a cancellation that arrives while the run
	// drains for continue-as-new aborts instead of being dropped.
	changeDrainSeesCancel = "drain-sees-cancel"
	// changeLocalSmall: inline chunks are enqueued by local activities, a
	// batch that staged nothing seals with a local activity that skips
	// the staging cleanup, the last chunk leaves its BatchRuns hint to the
	// seal, and the SEALING state is not upserted: a batch that arrives in
	// one signal completes in one workflow task. Local attempts that fail
	// fall back to the regular activities (abortable seal included).
	changeLocalSmall = "local-small"
	// changeLocalStaged: a batch's last chunk is enqueued by a local
	// activity even when it was staged, and the seal is local whatever was
	// staged (it then deletes the staging): a batch of one staged chunk
	// (1,000 items of 4 KiB) needs no activity dispatch either.
	changeLocalStaged = "local-staged"
)
