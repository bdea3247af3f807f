package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/internal/ingest"
	"github.com/streambatch/streambatch/wire"
)

// fail ends the request with status and a message a person can act on.
func fail(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, wire.ErrorBody{Error: msg})
}

// retryAfterUnavailable is the Retry-After of a 503.
const retryAfterUnavailable = "5"

// failInternal logs err and answers 500 (retryable by clients) or, when
// retry is false, 500 with x-should-retry: false. An error that shows a
// dependency down or unreachable answers 503 with Retry-After, naming it,
// so clients and operators can tell a fault from a bug.
func (s *Server) failInternal(c *gin.Context, err error, retry bool) {
	if dep := unavailableDependency(err); dep != "" {
		s.log.WarnContext(c.Request.Context(), "dependency unavailable", "dependency", dep, "error", err, "path", c.FullPath(), "request_id", requestID(c))
		c.Header("Retry-After", retryAfterUnavailable)
		fail(c, http.StatusServiceUnavailable, dep+" is unavailable: retry in a few seconds")
		return
	}
	s.log.ErrorContext(c.Request.Context(), "request failed", "error", err, "path", c.FullPath(), "request_id", requestID(c))
	if !retry {
		c.Header("x-should-retry", "false")
	}
	fail(c, http.StatusInternalServerError, "Something went wrong")
}

// failIngest maps a Phase 2 error to its status.
func (s *Server) failIngest(c *gin.Context, err error) {
	var syn *ingest.SyntaxError
	var val *ingest.ValidationError
	var body *ingest.BodyError
	switch {
	case errors.As(err, &syn):
		s.metrics.Phase2("client_error")
		fail(c, http.StatusBadRequest, syn.Msg)
	case errors.As(err, &val):
		s.metrics.Phase2("client_error")
		fail(c, http.StatusUnprocessableEntity, val.Msg)
	case errors.As(err, &body) && errors.Is(err, os.ErrDeadlineExceeded):
		s.metrics.Phase2("client_error")
		fail(c, http.StatusRequestTimeout, fmt.Sprintf("Request body sent nothing for %s: keep the stream flowing, or retry", s.opts.BodyIdleTimeout))
	case errors.As(err, &body) && errors.Is(err, io.ErrUnexpectedEOF), c.Request.Context().Err() != nil:
		// The client cut the connection: nobody reads this answer, and it
		// is not a server fault. Only the body's own errors count: a
		// dependency's cut connection (io.ErrUnexpectedEOF from PostgreSQL)
		// is a 503 below.
		s.metrics.Phase2("client_error")
		s.log.InfoContext(c.Request.Context(), "client left mid-stream", "error", err, "request_id", requestID(c))
		fail(c, http.StatusBadRequest, "Request body ended before the stream did")
	case errors.As(err, &body):
		// Malformed framing (e.g. a bad chunk size): the client's fault.
		s.metrics.Phase2("client_error")
		fail(c, http.StatusBadRequest, "Request body could not be read: "+truncate(errors.Unwrap(err).Error(), 200))
	default:
		s.metrics.Phase2("server_error")
		s.failInternal(c, err, true)
	}
}
