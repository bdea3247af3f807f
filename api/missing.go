package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/wire"
)

// missingIndexes tells a client which indexes it still has to send, so a
// retry after a failed attempt re-sends only those (the Go client does).
func (s *Server) missingIndexes(c *gin.Context) {
	limit := 1000
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			fail(c, http.StatusBadRequest, "limit must be an integer from 1 to 10000")
			return
		}
		limit = n
	}
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	resp := wire.Missing{ID: b.ID, Status: string(b.Status), RunCount: b.RunCount, Missing: batch.Ranges{}}
	if b.Done() {
		resp.AcceptedCount = b.RunCount
		c.JSON(http.StatusOK, resp)
		return
	}
	set, err := s.store.AcceptedIndexes(c.Request.Context(), b.ID, b.RunCount)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	resp.AcceptedCount = set.Len()
	if missing := set.Missing(limit + 1); len(missing) > limit {
		resp.Missing, resp.More = missing[:limit], true
	} else if missing != nil {
		resp.Missing = missing
	}
	c.JSON(http.StatusOK, resp)
}
