package api

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"
)

// healthz answers 200 while the process serves HTTP.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz checks every dependency (PostgreSQL, Temporal, S3) and answers 200
// only when all answer within 2 s each; a failing one reads "unavailable"
// (the details are logged, not shown to whoever asks).
func (s *Server) readyz(c *gin.Context) {
	names := make([]string, 0, len(s.ready))
	for n := range s.ready {
		names = append(names, n)
	}
	sort.Strings(names)
	checks := gin.H{}
	status := http.StatusOK
	for _, n := range names {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		err := s.ready[n](ctx)
		cancel()
		if err != nil {
			// The error can name hosts, users and databases: it goes to the
			// log, the answer only says which dependency failed.
			s.log.WarnContext(c.Request.Context(), "readiness check failed", "dependency", n, "error", err)
			checks[n] = "unavailable"
			status = http.StatusServiceUnavailable
		} else {
			checks[n] = "ok"
		}
	}
	state := "ready"
	if status != http.StatusOK {
		state = "not ready"
	}
	c.JSON(status, gin.H{"status": state, "checks": checks})
}
