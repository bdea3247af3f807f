package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
)

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

// failBodyRead answers a small body that could not be read: 408 when it
// did not arrive within ReadTimeout (deadlines), 400 otherwise.
func failBodyRead(c *gin.Context, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		fail(c, http.StatusRequestTimeout, "Request body took too long to arrive")
		return
	}
	fail(c, http.StatusBadRequest, "Cannot read the request body")
}

// drainAfterEarlyAnswer wraps Phase 2: when its answer came before the body
// was read (a sealed batch, a refusal), the rest of the body is read and
// discarded, so that a client that sends its whole body before it reads the
// answer (Python's http.client, requests) gets the answer instead of a
// broken pipe. Reading stops at the body idle timeout; for a caller that
// did not authenticate, also after drainUnauthenticated in all.
func (s *Server) drainAfterEarlyAnswer(c *gin.Context) {
	body := &eofReader{r: c.Request.Body}
	c.Request.Body = body
	c.Next()
	if body.eof || c.Request.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(c.Writer)
	_ = rc.Flush()
	var total time.Time
	if _, ok := c.Get(envKey); !ok {
		total = time.Now().Add(drainUnauthenticated)
	}
	idle := s.opts.BodyIdleTimeout
	if idle <= 0 {
		idle = time.Minute
	}
	buf := make([]byte, 64<<10)
	for {
		deadline := time.Now().Add(idle)
		if !total.IsZero() && total.Before(deadline) {
			deadline = total
		}
		_ = rc.SetReadDeadline(deadline)
		if _, err := body.Read(buf); err != nil {
			break
		}
	}
	_ = rc.SetReadDeadline(time.Time{})
}

// drainUnauthenticated bounds how long the body of a refused,
// unauthenticated Phase 2 request is read.
const drainUnauthenticated = 2 * time.Minute

// eofReader remembers whether its reader reached the end.
type eofReader struct {
	r   io.ReadCloser
	eof bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.eof = true
	}
	return n, err
}

func (e *eofReader) Close() error { return e.r.Close() }
