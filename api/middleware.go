package api

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
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
	tokenKey     = "streambatch.token"    // the request's public access token (publicToken)
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
	return s.authenticateScopedOr(write, target, nil)
}

// authenticateScopedOr is authenticateScoped where a token whose scopes do
// not name the batch or run may still be granted the request by grant (a
// read by task or tag, the items of a batch the token created; grant may
// narrow the token); grant answers the request itself when it fails.
func (s *Server) authenticateScopedOr(write bool, target func(c *gin.Context) (batchID, runID string),
	grant func(c *gin.Context, t *publicToken) (granted, answered bool)) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, token := s.keyOrToken(c)
		if !token {
			return
		}
		batchID, runID := target(c)
		if !allows(t.scopes, write, batchID, runID) {
			granted, answered := false, false
			if grant != nil {
				granted, answered = grant(c, &t)
			}
			if answered {
				return
			}
			if !granted {
				fail(c, http.StatusForbidden, "The public access token does not grant access to this resource")
				return
			}
		}
		c.Set(envKey, t.env)
		c.Set(keyIDKey, int64(0))
		c.Set(tokenKey, t)
	}
}

// authenticateCreate accepts an API key, or a public access token that
// grants triggering some task (createBatch checks the batch's tasks).
func (s *Server) authenticateCreate(c *gin.Context) {
	t, token := s.keyOrToken(c)
	if !token {
		return
	}
	if !mayTrigger(t.scopes, "") {
		fail(c, http.StatusForbidden, "The public access token does not grant triggering tasks: create it with auth.createBatchTriggerPublicToken or auth.createTriggerPublicToken")
		return
	}
	c.Set(envKey, t.env)
	c.Set(keyIDKey, int64(0))
	c.Set(tokenKey, t)
}

// tokenOf returns the request's verified public access token, if any.
func tokenOf(c *gin.Context) (publicToken, bool) {
	v, ok := c.Get(tokenKey)
	if !ok {
		return publicToken{}, false
	}
	t, ok := v.(publicToken)
	return t, ok
}

// keyOrToken authenticates the Bearer credential. An API key is resolved
// (or refused) here: token is false. A public access token is verified (or
// refused: token false) and token is true: the caller decides what its
// scopes grant and sets the environment.
func (s *Server) keyOrToken(c *gin.Context) (t publicToken, token bool) {
	cred, ok := bearer(c)
	if !ok {
		return publicToken{}, false
	}
	if !looksLikeJWT(cred) {
		s.authenticateKey(c, cred)
		return publicToken{}, false
	}
	t, err := s.verifyToken(c.Request.Context(), cred)
	if errors.Is(err, errToken) {
		s.log.InfoContext(c.Request.Context(), "public access token refused", "reason", err.Error(), "request_id", requestID(c))
		fail(c, http.StatusUnauthorized, "Invalid public access token")
		return publicToken{}, false
	}
	if err != nil {
		s.failInternal(c, err, true)
		return publicToken{}, false
	}
	return t, true
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

// grantTokenStream grants an SDK trigger token streaming the items of
// :batchId when it created that batch, items of the batch's tasks only (as
// the SDK's batch.trigger does under auth.withBatchTriggerPublicToken: it
// streams with the token that created the batch).
func (s *Server) grantTokenStream(c *gin.Context, t *publicToken) (granted, answered bool) {
	if t.sdk == nil || !mayTrigger(t.scopes, "") {
		return false, false
	}
	tasks, err := s.store.TokenBatchTasks(c.Request.Context(), t.env.ID, c.Param("batchId"), t.sdk.Hash)
	if errors.Is(err, store.ErrNotFound) {
		return false, false
	}
	if err != nil {
		s.failInternal(c, err, true)
		return false, true
	}
	t.tasks = tasks
	if t.tasks == nil {
		t.tasks = []string{}
	}
	return true, false
}

// grantRunRead grants a token reading :runId by the run's task
// (read:tasks:<task>) or one of its tags (read:tags:<tag>).
func (s *Server) grantRunRead(c *gin.Context, t *publicToken) (granted, answered bool) {
	if !slices.ContainsFunc(t.scopes, func(sc string) bool {
		return strings.HasPrefix(sc, "read:tasks") || strings.HasPrefix(sc, "read:tags")
	}) {
		return false, false
	}
	batchID, index, ok := batch.ParseRunID(c.Param("runId"))
	if !ok {
		return false, false
	}
	ctx := c.Request.Context()
	_, err := s.store.GetBatch(ctx, t.env.ID, batchID)
	var run store.Run
	if err == nil {
		run, err = s.store.GetRun(ctx, batchID, index)
	}
	if errors.Is(err, store.ErrNotFound) {
		return false, false
	}
	if err != nil {
		s.failInternal(c, err, true)
		return false, true
	}
	return readsTask(t.scopes, run.Task) || readsTag(t.scopes, batch.StoredItemOptions(run.Options).Tags), false
}

// grantListRead grants a token runs.list when it filters on tasks
// (filter[taskIdentifier]) whose runs it may read (read:tasks:<task>), or
// on tags (filter[tag]) it may read each of (read:tags:<tag>).
func grantListRead(c *gin.Context, t *publicToken) (granted, answered bool) {
	tasks := tdListValues(c, "filter[taskIdentifier]")
	if len(tasks) > 0 && !slices.ContainsFunc(tasks, func(task string) bool { return !readsTask(t.scopes, task) }) {
		return true, false
	}
	tags := tdListValues(c, "filter[tag]")
	return len(tags) > 0 && !slices.ContainsFunc(tags, func(tag string) bool { return !readsTag(t.scopes, []string{tag}) }), false
}

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
