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
	"github.com/streambatch/streambatch/store"
)

// maxAbortBody bounds the optional {"reason": "..."} body.
const maxAbortBody = 4 << 10

// abortBatch is POST /api/v3/batches/:batchId/abort. It asks the batch's
// workflow to abort (which refuses further items, marks the batch ABORTED
// and its queued runs CANCELED) and waits for that, bounded by SealWait.
// Aborting an aborted batch is a no-op; a sealed batch cannot be aborted.
func (s *Server) abortBatch(c *gin.Context) {
	reason, ok := readAbortReason(c)
	if !ok {
		return
	}
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	switch {
	case b.Status == batch.StatusAborted:
		s.writeBatch(c, http.StatusOK, b)
		return
	case b.Done():
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" is sealed and cannot be aborted")
		return
	}
	ctx := c.Request.Context()
	err := s.wf.Abort(ctx, b.ID, reason)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		// No running workflow (it was never started or already ended):
		// abort the row directly.
		_, err = s.store.AbortBatch(ctx, b.ID, reason)
		if errors.Is(err, store.ErrNotPending) {
			err = nil
		}
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.SealWait)
	defer cancel()
	if _, err := s.wf.Wait(wctx, b.ID); err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			s.log.WarnContext(ctx, "waiting for the abort", "batch_id", b.ID, "error", err)
		}
	}
	now, err := s.store.GetBatchAnyEnv(ctx, b.ID)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	switch {
	case now.Status == batch.StatusAborted:
		s.writeBatch(c, http.StatusOK, now)
	case now.Done():
		fail(c, http.StatusUnprocessableEntity, "Batch "+b.ID+" was sealed before the abort took effect")
	default:
		// Still aborting (the workflow is busy or no worker runs): accepted.
		s.writeBatch(c, http.StatusAccepted, now)
	}
}

// readAbortReason reads the optional JSON body {"reason": "..."}.
func readAbortReason(c *gin.Context) (string, bool) {
	const fallback = "aborted through the API"
	limitSmallBody(c)
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
	var body struct {
		Reason *string `json:"reason"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		fail(c, http.StatusBadRequest, `Invalid JSON: the body is optional, else {"reason": "..."}`)
		return "", false
	}
	if body.Reason == nil || strings.TrimSpace(*body.Reason) == "" {
		return fallback, true
	}
	if len(*body.Reason) > 1000 || strings.IndexByte(*body.Reason, 0) >= 0 {
		fail(c, http.StatusBadRequest, "reason must be at most 1000 bytes of text")
		return "", false
	}
	return *body.Reason, true
}
