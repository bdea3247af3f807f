package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
)

// smallBodyTimeout bounds reading the small JSON bodies (Phase 1, abort).
const smallBodyTimeout = 30 * time.Second

// idleReader extends the connection's read deadline before every read, so
// a stream may last as long as it keeps sending, but a body that stalls for
// longer than idle fails with a timeout.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.rc.SetReadDeadline(time.Now().Add(r.idle))
	return r.r.Read(p)
}

// streamBody returns the Phase 2 body with the idle timeout applied, and a
// function that lifts the deadline once the body is read.
func (s *Server) streamBody(c *gin.Context) (io.Reader, func()) {
	if s.opts.BodyIdleTimeout <= 0 {
		return c.Request.Body, func() {}
	}
	rc := http.NewResponseController(c.Writer)
	return &idleReader{r: c.Request.Body, rc: rc, idle: s.opts.BodyIdleTimeout}, func() { _ = rc.SetReadDeadline(time.Time{}) }
}

// limitSmallBody bounds the time to read a small request body.
func limitSmallBody(c *gin.Context) {
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(smallBodyTimeout))
}

// failBodyRead answers a small body that could not be read: 408 when it
// stalled, 400 otherwise.
func failBodyRead(c *gin.Context, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		fail(c, http.StatusRequestTimeout, "Request body took too long to arrive")
		return
	}
	fail(c, http.StatusBadRequest, "Cannot read the request body")
}
