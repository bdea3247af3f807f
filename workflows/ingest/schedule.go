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
				if isErrorType(err, flow.ErrTypeBatchNotPending) && w.notPendingEnds(ctx) {
					// Aborted without this workflow (an abort that raced
					// the first chunk found none), or ended otherwise: no
					// chunk can go in, so end now rather than at the seal
					// deadline.
					w.requestAbort("the batch left PENDING while its items streamed", "")
				}
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

// notPendingEnds reports whether a chunk refused because the batch is no
// longer PENDING ends the workflow (changeNotPendingEnds).
func (w *ingest) notPendingEnds(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, changeNotPendingEnds, workflow.DefaultVersion, 1) == 1
}
