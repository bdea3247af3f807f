package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/store"
)

// getBatch is GET /api/v3/batches/:batchId.
func (s *Server) getBatch(c *gin.Context) {
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	s.writeBatch(c, http.StatusOK, b)
}

// writeBatch answers with a batch's status and run counts.
func (s *Server) writeBatch(c *gin.Context, status int, b store.Batch) {
	total, failed, err := s.store.CountRuns(c.Request.Context(), b.ID)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	c.JSON(status, batchResponse{
		ID: b.ID, Status: string(b.Status), Sealed: b.Sealed, RunCount: b.RunCount,
		EnqueuedCount: total, FailedCount: failed, CreatedAt: b.CreatedAt, SealedAt: b.SealedAt,
		AbortedAt: b.AbortedAt, AbortReason: b.AbortReason, WorkflowID: b.ID,
	})
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
	runs, err := s.store.ListRuns(c.Request.Context(), b.ID, after, limit)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	out := runsResponse{Data: make([]runResponse, len(runs))}
	for k, r := range runs {
		out.Data[k] = runResponse{ID: r.ID, Index: r.Index, Task: r.Task, Status: string(r.Status),
			PayloadType: r.PayloadType, Payload: r.Payload, Options: r.Options, QueueTimestamp: r.QueueTimestamp}
		if r.ErrorCode != nil {
			out.Data[k].Error = &runError{Code: *r.ErrorCode, Message: deref(r.ErrorMessage)}
		}
	}
	if len(runs) == limit && runs[len(runs)-1].Index < b.RunCount-1 {
		next := strconv.Itoa(runs[len(runs)-1].Index)
		out.NextCursor = &next
	}
	c.JSON(http.StatusOK, out)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
