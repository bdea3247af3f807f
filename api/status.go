package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// maxWait bounds the ?wait= long poll of GET /api/v3/batches/:batchId.
const maxWait = 5 * time.Minute

// getBatch is GET /api/v3/batches/:batchId[?wait=30s]. With wait, it
// answers once the batch is COMPLETED or ABORTED, or when the wait runs out
// (with the batch as it is then): the handler blocks on the batch's
// workflows, not on a polling loop.
func (s *Server) getBatch(c *gin.Context) {
	var wait time.Duration
	if v := c.Query("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxWait {
			fail(c, http.StatusBadRequest, "wait must be a duration from 0s to 5m, such as 30s")
			return
		}
		wait = d
	}
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	if wait > 0 && !b.Status.Terminal() {
		var err error
		if b, err = s.waitTerminal(c.Request.Context(), b, time.Now().Add(wait)); err != nil {
			s.failInternal(c, err, true)
			return
		}
	}
	s.writeBatch(c, http.StatusOK, b)
}

// waitTerminal blocks until b is terminal or the deadline passes: on
// BatchIngest while the batch is PENDING, then on BatchRuns.
func (s *Server) waitTerminal(ctx context.Context, b store.Batch, deadline time.Time) (store.Batch, error) {
	for !b.Status.Terminal() && time.Now().Before(deadline) && ctx.Err() == nil {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		var err error
		if b.Status == batch.StatusPending {
			_, err = s.wf.Wait(wctx, b.ID)
		} else {
			_, err = s.runs.Wait(wctx, b.ID, b.RunsHere)
		}
		cancel()
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) && wctx.Err() == nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "waiting for a batch", "batch_id", b.ID, "error", err)
		}
		before := b.Status
		now, gerr := s.store.GetBatchAnyEnv(ctx, b.ID)
		if gerr != nil {
			return b, gerr
		}
		b = now
		if b.Status == before && !b.Status.Terminal() {
			// The workflow ended (or does not exist yet) without the row
			// changing: look again shortly rather than spin.
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Until(deadline), 250*time.Millisecond)):
			}
		}
	}
	return b, nil
}

// writeBatch answers with a batch's status, run counts and the runs that
// wait for a task worker.
func (s *Server) writeBatch(c *gin.Context, status int, b store.Batch) {
	counts, waiting, err := s.store.RunCountsWaiting(c.Request.Context(), b.ID)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	res := wire.BatchStatus{
		ID: b.ID, Status: string(b.Status), Sealed: b.Done(), RunCount: b.RunCount,
		FailedCount: counts[batch.RunFailed], CreatedAt: b.CreatedAt, SealedAt: b.SealedAt,
		AbortedAt: b.AbortedAt, AbortReason: b.AbortReason, CompletedAt: b.CompletedAt, Replays: b.Replays,
		RunCounts: make(map[string]int, len(counts)), WorkflowID: b.ID, RunsWorkflowID: runsWorkflowID(b),
		RunsWaitingForWorker: waiting.Runs, WaitingForWorkerSince: waiting.Since,
	}
	for st, n := range counts {
		res.EnqueuedCount += n
		res.RunCounts[string(st)] = n
	}
	if p := b.ParentWorkflow(); p != "" {
		res.Parent = &wire.Parent{WorkflowID: p, NotifiedAt: b.ParentNotifiedAt, Refused: b.ParentRefused}
	}
	c.JSON(status, res)
}

// Page sizes of GET runs.
const (
	defaultRunsLimit = 100
	maxRunsLimit     = 1000
)

// listRuns is GET /api/v3/batches/:batchId/runs?limit=&cursor=, ordered by
// index. The cursor is opaque to clients.
func (s *Server) listRuns(c *gin.Context) {
	limit := defaultRunsLimit
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRunsLimit {
			fail(c, http.StatusBadRequest, "limit must be an integer from 1 to 1000")
			return
		}
		limit = n
	}
	after := -1
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			fail(c, http.StatusBadRequest, "cursor is invalid: pass the nextCursor of the previous page")
			return
		}
		after = int(n)
	}
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	s.streamRunsPage(c, b, after, limit)
}

// streamRunsPage writes one page of b's runs after index after: at most
// limit, and no more than the page's byte budget; nextCursor (the index of
// the last run written) is given whenever runs remain.
func (s *Server) streamRunsPage(c *gin.Context, b store.Batch, after, limit int) {
	ctx := c.Request.Context()
	page := streamJSON(c, `{"data":[`, s.pageBudget())
	last := -1
	more, err := s.eachRun(ctx, b.ID, store.RunFilter{}, after, limit, s.pageBudget(), func(r *store.Run) bool {
		if !page.add(newRunResponse(*r)) {
			return false
		}
		last = r.Index
		return true
	})
	if err == nil && page.err != nil {
		return // the client left
	}
	if err != nil {
		s.endBroken(c, page, err)
		return
	}
	tail := "]}"
	if more && last >= 0 {
		tail = `],"nextCursor":"` + strconv.Itoa(last) + `"}`
	}
	_ = page.end(tail)
}

// endBroken ends a streamed answer that failed: with an error status when
// nothing was written yet, else by leaving its JSON unfinished, which no
// client takes for a whole answer.
func (s *Server) endBroken(c *gin.Context, page *jsonArray, err error) {
	if !page.started() {
		s.failInternal(c, err, true)
		return
	}
	s.log.ErrorContext(c.Request.Context(), "streamed answer broken", "error", err, "path", c.FullPath(), "request_id", requestID(c))
}

func newRunResponse(r store.Run) wire.Run {
	out := wire.Run{ID: r.ID, Index: r.Index, Task: r.Task, Status: string(r.Status), CachedRunID: r.CachedRunID,
		PayloadType: r.PayloadType, Payload: r.Payload, Options: r.Options, QueueTimestamp: r.QueueTimestamp,
		Output: r.Output, OutputType: r.OutputType, Attempts: r.Attempts, StartedAt: r.StartedAt,
		CompletedAt: r.CompletedAt, DelayUntil: r.DelayUntil}
	if r.ErrorCode != nil {
		out.Error = &wire.RunError{Code: *r.ErrorCode, Message: deref(r.ErrorMessage)}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// runsWorkflowID names the workflow that executes the batch's runs: its
// BatchRuns, or its BatchIngest for a small batch that executes them itself
// (a replay clears Batch.RunsHere: the replayed runs run in BatchRuns).
func runsWorkflowID(b store.Batch) string {
	if b.RunsHere {
		return b.ID
	}
	return runswf.WorkflowID(b.ID)
}
