package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
)

// maxAbortBody bounds the optional {"reason": "..."} body.
const maxAbortBody = 4 << 10

// abortBatch is POST /api/v3/batches/:batchId/abort. A PENDING batch is
// aborted through BatchIngest (it refuses further items, marks the batch
// ABORTED and its open runs CANCELED); a PROCESSING one through BatchRuns
// (it cancels the runs executing, marks the rest CANCELED and the batch
// ABORTED; finished runs keep their results). The handler waits for that,
// bounded by AbortWait (202 when the wait runs out). Aborting an aborted
// batch is a no-op, except that one whose parent was not told yet is
// handed to BatchRuns again; a completed batch cannot be aborted.
func (s *Server) abortBatch(c *gin.Context) {
	reason, ok := readAbortReason(c)
	if !ok {
		return
	}
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	wctx, cancel := context.WithTimeout(ctx, s.opts.AbortWait)
	defer cancel()
	if b.Status == batch.StatusAborted {
		s.finishParentNotice(ctx, b, reason)
	}
	if b.Status == batch.StatusPending {
		if err := s.abortPending(ctx, wctx, b, reason); err != nil {
			s.failInternal(c, err, true)
			return
		}
		now, err := s.store.GetBatchAnyEnv(ctx, b.ID)
		if err != nil {
			s.failInternal(c, err, true)
			return
		}
		b = now
	}
	if b.Status == batch.StatusProcessing {
		// Sealed (perhaps while the abort above ran): stop its runs.
		if err := s.runs.Abort(ctx, b.ID, b.EnvName, reason); err != nil {
			s.failInternal(c, err, true)
			return
		}
		if _, err := s.runs.Wait(wctx, b.ID, b.RunsHere); err != nil && wctx.Err() == nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "waiting for the abort", "batch_id", b.ID, "error", err)
		}
		now, err := s.store.GetBatchAnyEnv(ctx, b.ID)
		if err != nil {
			s.failInternal(c, err, true)
			return
		}
		b = now
	}
	switch b.Status {
	case batch.StatusAborted:
		s.writeBatch(c, http.StatusOK, b)
	case batch.StatusCompleted:
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" is completed: every run has finished, nothing is left to abort")
	default:
		// Still aborting (the workflow is busy or no worker runs): accepted.
		s.writeBatch(c, http.StatusAccepted, b)
	}
}

// abortPending aborts a PENDING batch through its BatchIngest workflow (or
// directly when it has none) and waits for it until wctx ends.
func (s *Server) abortPending(ctx, wctx context.Context, b store.Batch, reason string) error {
	err := s.wf.Abort(ctx, b.ID, reason)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		// No running workflow (it was never started or already ended):
		// abort the row directly, and the runs through BatchRuns.
		if _, err = s.store.AbortBatch(ctx, b.ID, reason, false); err == nil {
			return s.runs.Abort(ctx, b.ID, b.EnvName, reason)
		}
		if errors.Is(err, store.ErrNotPending) {
			return nil
		}
	}
	if err != nil {
		return err
	}
	if _, err := s.wf.Wait(wctx, b.ID); err != nil && wctx.Err() == nil && ctx.Err() == nil {
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			s.log.WarnContext(ctx, "waiting for the abort", "batch_id", b.ID, "error", err)
		}
	}
	return nil
}

// readAbortReason reads the optional JSON body {"reason": "..."}.
func readAbortReason(c *gin.Context) (string, bool) {
	const fallback = "aborted through the API"
	if c.Request.ContentLength > maxAbortBody {
		fail(c, http.StatusRequestEntityTooLarge, "Request body too large")
		return "", false
	}
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, maxAbortBody+1))
	if err != nil {
		failBodyRead(c, err)
		return "", false
	}
	if len(raw) > maxAbortBody {
		fail(c, http.StatusRequestEntityTooLarge, "Request body too large")
		return "", false
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return fallback, true
	}
	var body wire.AbortRequest
	if err := json.Unmarshal(raw, &body); err != nil {
		fail(c, http.StatusBadRequest, `Invalid JSON: the body is optional, else {"reason": "..."}`)
		return "", false
	}
	if strings.TrimSpace(body.Reason) == "" {
		return fallback, true
	}
	if len(body.Reason) > 1000 || strings.IndexByte(body.Reason, 0) >= 0 {
		fail(c, http.StatusBadRequest, "reason must be at most 1000 bytes of text")
		return "", false
	}
	return body.Reason, true
}

// finishParentNotice hands an ABORTED batch whose parent workflow was not
// told to BatchRuns again, which tells it (once: ParentNotifiedAt). A batch
// without a workflow is aborted row first, then runs through BatchRuns
// (abortPending): an abort that failed between the two is finished by the
// client's retry. Only a batch already aborted when the request came is
// handed on (a fresh abort's BatchRuns is still at it), and a failure is
// logged: the batch is aborted either way.
func (s *Server) finishParentNotice(ctx context.Context, b store.Batch, reason string) {
	if b.ParentWorkflow() == "" || b.ParentNotifiedAt != nil || b.ParentRefused != nil {
		return
	}
	if err := s.runs.Abort(ctx, b.ID, b.EnvName, reason); err != nil {
		s.log.WarnContext(ctx, "handing an aborted batch's parent notice to BatchRuns", "batch_id", b.ID, "error", err)
	}
}
