package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
	"github.com/streambatch/streambatch/workflows/flow"
)

// maxCreateBody is Phase 1's body limit (128 KiB, as trigger.dev).
const maxCreateBody = 128 << 10

// createBatch is Phase 1: POST /api/v3/batches.
func (s *Server) createBatch(c *gin.Context) {
	if c.Request.ContentLength > maxCreateBody {
		fail(c, http.StatusRequestEntityTooLarge, "Request body too large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxCreateBody+1))
	if err != nil {
		failBodyRead(c, err)
		return
	}
	if len(body) > maxCreateBody {
		fail(c, http.StatusRequestEntityTooLarge, "Request body too large")
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		fail(c, http.StatusBadRequest, "Request body is empty")
		return
	}
	req, msg := parseCreateBatch(body, s.opts.MaxItems)
	if msg != "" {
		fail(c, http.StatusBadRequest, msg)
		return
	}
	if req.ParentRunID != nil && flow.IsOwnWorkflowID(*req.ParentRunID) {
		fail(c, http.StatusUnprocessableEntity, "parentRunId "+truncate(*req.ParentRunID, 64)+
			" names one of streambatch's own workflows (batch_…, streambatch-…): name the workflow that waits for the batch")
		return
	}
	tok, byToken := tokenOf(c)
	if byToken && !tokenMayCreate(c, tok, req) {
		return
	}
	if !s.limitCreate(c, req.RunCount) {
		return
	}
	env := envOf(c)
	nb := store.NewBatch{
		ID: batch.NewBatchID(), Env: env, RunCount: req.RunCount, IdempotencyKey: req.IdempotencyKey,
		IdempotencyKeyOptions: req.IdempotencyKeyOptions, TaskIdentifiers: req.TaskIdentifiers,
		ParentRunID: req.ParentRunID, ResumeParentOnCompletion: req.ResumeParentOnCompletion,
		SealTimeout: s.opts.SealTimeout, Token: tok.sdk,
	}
	ctx := c.Request.Context()
	c.Set(batchIDKey, nb.ID)
	// The batch's BatchIngest starts with its first chunk (Signal-With-Start),
	// not here: a create is one PostgreSQL transaction. A batch that never
	// receives a chunk is aborted after its seal deadline by the sweeper.
	b, cached, err := s.store.CreateBatchTx(ctx, nb, nil)
	if errors.Is(err, store.ErrTokenUsed) {
		fail(c, http.StatusUnauthorized, "This one-time-use public access token was already used: create a new one for each batch, or pass multipleUse: true")
		return
	}
	if err != nil {
		// As trigger.dev: the SDK must not retry a create on its own (a
		// retry without an idempotency key could create a second batch).
		s.failInternal(c, err, false)
		return
	}
	// A browser client (x-trigger-client: browser) may also stream the
	// items with the token, as trigger.dev allows; so may the holder of a
	// public token, which has no API key to stream with, and only items of
	// the tasks it created the batch for.
	write := byToken || strings.EqualFold(c.GetHeader("x-trigger-client"), "browser")
	keyID, tasks := keyIDOf(c), []string(nil)
	if byToken {
		keyID, tasks = tok.keyID, req.TaskIdentifiers
	}
	if err := s.setBatchToken(c, env.ID, keyID, b.ID, write, tasks); err != nil {
		s.failInternal(c, err, false)
		return
	}
	if cached {
		c.JSON(http.StatusOK, wire.CreateBatchResponse{ID: b.ID, RunCount: b.RunCount, IsCached: true})
		return
	}
	c.JSON(http.StatusAccepted, wire.CreateBatchResponse{ID: b.ID, RunCount: b.RunCount, IdempotencyKey: req.IdempotencyKey})
}

// tokenMayCreate checks a batch created with a public access token: it
// must list its tasks (taskIdentifiers), each one the token may trigger,
// and resumes no parent workflow. It answers 403 when not.
func tokenMayCreate(c *gin.Context, t publicToken, req createBatchRequest) bool {
	if len(req.TaskIdentifiers) == 0 {
		fail(c, http.StatusForbidden, "A public access token creates only batches of the tasks it names: list the batch's tasks in taskIdentifiers")
		return false
	}
	for _, task := range req.TaskIdentifiers {
		if !mayTrigger(t.scopes, task) {
			fail(c, http.StatusForbidden, "The public access token does not grant triggering task "+strconv.Quote(truncate(task, 64)))
			return false
		}
	}
	if req.ParentRunID != nil {
		fail(c, http.StatusForbidden, "A public access token cannot set parentRunId: a browser does not resume workflows")
		return false
	}
	return true
}

// createBatchRequest is Phase 1's body after validation.
type createBatchRequest struct {
	RunCount                 int
	TaskIdentifiers          []string
	ParentRunID              *string
	ResumeParentOnCompletion bool
	IdempotencyKey           *string
	IdempotencyKeyOptions    json.RawMessage
}

// parseCreateBatch validates Phase 1's body field by field; unknown keys
// are ignored. It returns a message naming the offending field.
func parseCreateBatch(body []byte, maxItems int) (createBatchRequest, string) {
	var req createBatchRequest
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var obj any
		if json.Unmarshal(body, &obj) == nil {
			return req, "Invalid request body: expected a JSON object"
		}
		return req, "Invalid JSON"
	}
	present := func(k string) (json.RawMessage, bool) {
		v, ok := fields[k]
		return v, ok && string(v) != "null"
	}
	raw, ok := present("runCount")
	if !ok {
		return req, "runCount is required: the number of items you will stream"
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f != float64(int64(f)) || f < 1 {
		return req, fmt.Sprintf("runCount must be a positive integer, got %s", truncate(string(raw), 40))
	}
	if f > float64(maxItems) {
		return req, fmt.Sprintf("Batch runCount of %s exceeds maximum allowed of %d.", truncate(string(raw), 40), maxItems)
	}
	req.RunCount = int(f)

	if raw, ok := present("taskIdentifiers"); ok {
		if json.Unmarshal(raw, &req.TaskIdentifiers) != nil || len(req.TaskIdentifiers) == 0 {
			return req, "taskIdentifiers must be a non-empty array of task identifiers"
		}
		if len(req.TaskIdentifiers) > 500 {
			return req, "taskIdentifiers must list at most 500 tasks"
		}
		for _, t := range req.TaskIdentifiers {
			if t == "" || len(t) > 256 || strings.IndexByte(t, 0) >= 0 {
				return req, "taskIdentifiers must hold non-empty strings of at most 256 bytes"
			}
		}
	}
	if raw, ok := present("parentRunId"); ok {
		var p string
		if json.Unmarshal(raw, &p) != nil || p == "" || len(p) > 256 || strings.IndexByte(p, 0) >= 0 {
			return req, "parentRunId must be a run id string"
		}
		req.ParentRunID = &p
	}
	if raw, ok := present("resumeParentOnCompletion"); ok {
		if json.Unmarshal(raw, &req.ResumeParentOnCompletion) != nil {
			return req, "resumeParentOnCompletion must be a boolean"
		}
	}
	if raw, ok := present("idempotencyKey"); ok {
		var k string
		if json.Unmarshal(raw, &k) != nil || k == "" {
			return req, "idempotencyKey must be a non-empty string"
		}
		if utf8.RuneCountInString(k) > 2048 {
			return req, "idempotencyKey must be at most 2048 characters"
		}
		if strings.IndexByte(k, 0) >= 0 {
			return req, "idempotencyKey must not contain U+0000"
		}
		req.IdempotencyKey = &k
	}
	if raw, ok := present("idempotencyKeyOptions"); ok {
		var o struct {
			Key   *string `json:"key"`
			Scope *string `json:"scope"`
		}
		if json.Unmarshal(raw, &o) != nil || o.Key == nil || o.Scope == nil || strings.IndexByte(*o.Key, 0) >= 0 ||
			(*o.Scope != "run" && *o.Scope != "attempt" && *o.Scope != "global") {
			return req, `idempotencyKeyOptions must be {"key": string, "scope": "run" | "attempt" | "global"}`
		}
		req.IdempotencyKeyOptions, _ = json.Marshal(o)
	}
	return req, ""
}
