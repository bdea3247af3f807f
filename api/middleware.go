package api

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/store"
)

const (
	envKey       = "streambatch.env"
	requestIDKey = "streambatch.request_id"
	batchIDKey   = "streambatch.batch_id" // a batch created by the request
)

// authenticate resolves the Bearer API key to its environment.
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	key, ok := strings.CutPrefix(h, "Bearer ")
	key = strings.TrimSpace(key)
	if !ok || key == "" || len(key) > 512 {
		fail(c, http.StatusUnauthorized, "Invalid or missing API key: send Authorization: Bearer <key>")
		return
	}
	env, err := s.store.Authenticate(c.Request.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, http.StatusUnauthorized, "Invalid API key")
		return
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	c.Set(envKey, env)
}

func envOf(c *gin.Context) store.Environment {
	return c.MustGet(envKey).(store.Environment)
}

// requireNDJSON refuses Phase 2 bodies that are not NDJSON, or are encoded.
func (s *Server) requireNDJSON(c *gin.Context) {
	ct := strings.ToLower(c.GetHeader("Content-Type"))
	if !strings.Contains(ct, "application/x-ndjson") && !strings.Contains(ct, "application/ndjson") {
		fail(c, http.StatusUnsupportedMediaType, "Content-Type must be application/x-ndjson (or application/ndjson)")
		return
	}
	if enc := strings.TrimSpace(c.GetHeader("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		fail(c, http.StatusUnsupportedMediaType, "Content-Encoding "+truncate(enc, 32)+" is not supported: send the NDJSON body uncompressed")
		return
	}
}

// requestLog assigns a request id and logs each request once it is done.
func (s *Server) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !requestIDRE.MatchString(id) {
			id = batch.NewStreamID()
		}
		c.Set(requestIDKey, id)
		c.Header("X-Request-Id", id)
		start := time.Now()
		c.Next()
		s.metrics.HTTPRequest(c.FullPath(), strconv.Itoa(c.Writer.Status()), time.Since(start))
		batchID := c.Param("batchId")
		if batchID == "" {
			batchID = c.GetString(batchIDKey)
		}
		s.log.InfoContext(c.Request.Context(), "request",
			"method", c.Request.Method, "route", c.FullPath(), "status", c.Writer.Status(),
			"duration_ms", time.Since(start).Milliseconds(), "batch_id", truncate(batchID, 64), "request_id", id)
	}
}

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// requestIDRE is what a client-supplied X-Request-Id may look like; other
// values are replaced, so logs never carry arbitrary client text there.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
