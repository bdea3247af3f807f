package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// cancelWait bounds how long a run cancel waits for the run's BatchRuns
// workflow to record it.
const cancelWait = 5 * time.Second

// cancelRun is POST /api/v3/runs/:runId/cancel. A run no task worker holds
// yet (QUEUED, DELAYED) is cancelled at once; an executing one through its
// batch's BatchRuns workflow, which cancels its activity. The answer is the
// run: 200 when it is final (CANCELED, or already finished, which a cancel
// does not change), 202 when the cancellation is requested but not yet
// recorded.
func (s *Server) cancelRun(c *gin.Context) {
	b, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	run, err := s.cancel(c.Request.Context(), b, r.Index)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	status := http.StatusOK
	if !run.Status.Final() {
		status = http.StatusAccepted
	}
	c.JSON(status, newRunResponse(run))
}

// cancel cancels run index of b and returns it as it is afterwards: a run
// no worker holds at once (then BatchRuns is told, as the batch may now be
// complete), an executing one through BatchRuns. A final run is unchanged.
func (s *Server) cancel(ctx context.Context, b store.Batch, index int) (store.Run, error) {
	run, canceled, err := s.store.CancelRun(ctx, b.ID, index, "canceled through the API")
	switch {
	case err != nil:
		return run, err
	case canceled:
		return run, s.runs.Tell(ctx, b.ID, b.EnvName, runswf.Hint{})
	case !run.Status.Final():
		return s.cancelExecuting(ctx, b.ID, index)
	}
	return run, nil
}

// cancelExecuting signals BatchRuns to cancel a dispatched run and waits,
// briefly, for the outcome.
func (s *Server) cancelExecuting(ctx context.Context, batchID string, index int) (store.Run, error) {
	err := s.runs.CancelRun(ctx, batchID, index)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return store.Run{}, err
	}
	deadline := time.Now().Add(cancelWait)
	for {
		run, err := s.store.GetRun(ctx, batchID, index)
		if err != nil || run.Status.Final() || time.Now().After(deadline) {
			return run, err
		}
		select {
		case <-ctx.Done():
			return run, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// replayBatch is POST /api/v3/batches/:batchId/replay: a COMPLETED batch's
// runs that failed while executing (FAILED, EXPIRED, TIMED_OUT) run again;
// runs that failed at creation (PAYLOAD_TOO_LARGE) and completed runs do
// not. The batch goes back to PROCESSING and completes again.
func (s *Server) replayBatch(c *gin.Context) {
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	n, err := s.store.ReplayBatch(ctx, b.ID)
	switch {
	case errors.Is(err, store.ErrNotCompleted):
		if b.Status == batch.StatusProcessing {
			// Perhaps a replay whose hand-over failed: make sure its
			// BatchRuns runs (a hint to a running one costs one look).
			if err := s.runs.Tell(ctx, b.ID, b.EnvName, runswf.HintFrom(0)); err != nil {
				s.failInternal(c, err, true)
				return
			}
		}
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" is "+string(b.Status)+": only a COMPLETED batch can be replayed")
		return
	case errors.Is(err, store.ErrNothingToReplay):
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" has no failed, expired or timed-out runs to replay")
		return
	case err != nil:
		s.failInternal(c, err, true)
		return
	}
	if err := s.runs.Tell(ctx, b.ID, b.EnvName, runswf.HintFrom(0)); err != nil {
		// The runs are queued again; the next hint (or an operator) starts
		// them. Report the fault so the client can retry the call.
		s.failInternal(c, err, true)
		return
	}
	c.JSON(http.StatusAccepted, wire.Replay{ID: b.ID, Status: string(batch.StatusProcessing), Replayed: n})
}
