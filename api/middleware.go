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
	"github.com/streambatch/streambatch/internal/store"
)

const (
	envKey       = "streambatch.env"
	keyIDKey     = "streambatch.key_id" // the API key of the request (0: a token)
	requestIDKey = "streambatch.request_id"
	batchIDKey   = "streambatch.batch_id" // a batch created by the request
)

// bearer returns the request's Bearer credential, or answers 401.
func bearer(c *gin.Context) (string, bool) {
	key, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	key = strings.TrimSpace(key)
	if !ok || key == "" || len(key) > 4096 {
		fail(c, http.StatusUnauthorized, "Invalid or missing API key: send Authorization: Bearer <key>")
		return "", false
	}
	return key, true
}

// authenticate resolves the Bearer API key to its environment. Routes
// behind it do not take public access tokens.
func (s *Server) authenticate(c *gin.Context) {
	key, ok := bearer(c)
	if !ok {
		return
	}
	if looksLikeJWT(key) {
		fail(c, http.StatusUnauthorized, "This route needs a secret API key (sb_…): a public access token can only read its batch and runs")
		return
	}
	s.authenticateKey(c, key)
}

func (s *Server) authenticateKey(c *gin.Context, key string) {
	if len(key) > 512 {
		fail(c, http.StatusUnauthorized, "Invalid API key")
		return
	}
	env, id, err := s.store.AuthenticateKey(c.Request.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, http.StatusUnauthorized, "Invalid API key")
		return
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	c.Set(envKey, env)
	c.Set(keyIDKey, id)
}

// authenticateScoped accepts an API key, or a public access token whose
// scopes grant the request: reading (or, with write, streaming the items
// of) the batch or run that target names.
func (s *Server) authenticateScoped(write bool, target func(c *gin.Context) (batchID, runID string)) gin.HandlerFunc {
	return func(c *gin.Context) {
		env, scopes, token := s.keyOrToken(c)
		if !token {
			return
		}
		batchID, runID := target(c)
		if !allows(scopes, write, batchID, runID) {
			fail(c, http.StatusForbidden, "The public access token does not grant access to this resource")
			return
		}
		c.Set(envKey, env)
		c.Set(keyIDKey, int64(0))
	}
}

// keyOrToken authenticates the Bearer credential. An API key is resolved
// (or refused) here: token is false. A public access token is verified (or
// refused: token false) and token is true: the caller decides what its
// scopes grant and sets the environment.
func (s *Server) keyOrToken(c *gin.Context) (env store.Environment, scopes []string, token bool) {
	cred, ok := bearer(c)
	if !ok {
		return store.Environment{}, nil, false
	}
	if !looksLikeJWT(cred) {
		s.authenticateKey(c, cred)
		return store.Environment{}, nil, false
	}
	env, scopes, err := s.verifyToken(c.Request.Context(), cred)
	if errors.Is(err, errToken) {
		s.log.InfoContext(c.Request.Context(), "public access token refused", "reason", err.Error(), "request_id", requestID(c))
		fail(c, http.StatusUnauthorized, "Invalid public access token")
		return store.Environment{}, nil, false
	}
	if err != nil {
		s.failInternal(c, err, true)
		return store.Environment{}, nil, false
	}
	return env, scopes, true
}

// batchTarget names the batch of :batchId.
func batchTarget(c *gin.Context) (string, string) { return c.Param("batchId"), "" }

// runTarget names :runId and its batch.
func runTarget(c *gin.Context) (string, string) {
	batchID, _, _ := batch.ParseRunID(c.Param("runId"))
	return batchID, c.Param("runId")
}

// listTarget names the batch of ?filter[batch]=.
func listTarget(c *gin.Context) (string, string) { return c.Query("filter[batch]"), "" }

// keyIDOf returns the id of the request's API key (0 for a token).
func keyIDOf(c *gin.Context) int64 { return c.GetInt64(keyIDKey) }

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
