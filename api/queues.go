package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// The trigger.dev queue routes (queues.list, retrieve, pause, resume,
// overrideConcurrencyLimit, resetConcurrencyLimit). A queue is a run's
// options.queue.name, or its task's own queue "task/<task>"; its limit
// applies per concurrencyKey and is enforced by the dispatch steps' claim
// (store.ClaimRuns), not here: these routes read and change the queues
// table, and wake the batches waiting for a queue they resume or widen.

// Bounds of the queue routes.
const (
	queuesPerPage    = 25  // queues.list's default perPage, as trigger.dev's
	maxQueuesPerPage = 100 // and its largest
	// maxQueueLimit is the largest concurrencyLimit an override may set
	// (trigger.dev's bound).
	maxQueueLimit = 100_000
	// maxQueueNameBytes bounds a queue name or task identifier in a path.
	maxQueueNameBytes = 256
)

// tdQueueRead authorises reading queues: an API key, or a public access
// token with read:queues (or read:all).
func (s *Server) tdQueueRead(c *gin.Context) {
	t, token := s.keyOrToken(c)
	if !token {
		return
	}
	if !readsQueues(t.scopes) {
		fail(c, http.StatusForbidden, "The public access token does not grant reading queues (read:queues)")
		return
	}
	c.Set(envKey, t.env)
	c.Set(keyIDKey, int64(0))
	c.Set(tokenKey, t)
}

func readsQueues(scopes []string) bool {
	for _, sc := range scopes {
		if sc == "read:all" || sc == "read:queues" {
			return true
		}
	}
	return false
}

// tdListQueues is GET /api/v1/queues?page=&perPage= (queues.list): the
// environment's queues that have a limit, an override or a pause, by name.
func (s *Server) tdListQueues(c *gin.Context) {
	page, ok := queuePageParam(c, "page", 1, 1<<20)
	if !ok {
		return
	}
	per, ok := queuePageParam(c, "perPage", queuesPerPage, maxQueuesPerPage)
	if !ok {
		return
	}
	env := envOf(c)
	qs, total, err := s.queues.ListQueues(c.Request.Context(), env.ID, (page-1)*per, per)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	out := wire.TriggerDevQueuePage{Data: make([]wire.TriggerDevQueue, len(qs)),
		Pagination: wire.TriggerDevOffsetPages{CurrentPage: page, TotalPages: (total + per - 1) / per, Count: total}}
	for k, q := range qs {
		out.Data[k] = newTDQueue(q)
	}
	c.JSON(http.StatusOK, out)
}

// queuePageParam reads a positive integer query parameter (def when
// absent), at most most.
func queuePageParam(c *gin.Context, name string, def, most int) (int, bool) {
	v, set := c.GetQuery(name)
	if !set {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		fail(c, http.StatusBadRequest, name+" must be an integer from 1 to "+strconv.Itoa(most))
		return 0, false
	}
	return n, true
}

// tdRetrieveQueue is GET /api/v1/queues/:queue?type=id|task|custom
// (queues.retrieve). A queue named by type and name always exists (a name
// no run used is an idle queue without a limit); by id, only a queue with
// a row is found.
func (s *Server) tdRetrieveQueue(c *gin.Context) {
	name, ok := s.queueOfRequest(c, c.DefaultQuery("type", "id"))
	if !ok {
		return
	}
	s.writeQueue(c, name)
}

// tdPauseQueue is POST /api/v1/queues/:queue/pause {type, action:
// "pause"|"resume"} (queues.pause, queues.resume): a paused queue
// dispatches no run (runs dispatched before go on).
func (s *Server) tdPauseQueue(c *gin.Context) {
	body, typ, ok := readQueueBody(c)
	if !ok {
		return
	}
	var action string
	if err := json.Unmarshal(body["action"], &action); err != nil || (action != "pause" && action != "resume") {
		fail(c, http.StatusBadRequest, `action must be "pause" or "resume"`)
		return
	}
	name, ok := s.queueOfRequest(c, typ)
	if !ok {
		return
	}
	_, woken, err := s.queues.PauseQueue(c.Request.Context(), envOf(c).ID, name, action == "pause")
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	s.wakeQueueWaiters(c, woken)
	s.writeQueue(c, name)
}

// tdOverrideQueueLimit is POST /api/v1/queues/:queue/concurrency/override
// {type, concurrencyLimit} (queues.overrideConcurrencyLimit): the limit in
// force until a reset, whatever the runs name (0 dispatches nothing).
func (s *Server) tdOverrideQueueLimit(c *gin.Context) {
	body, typ, ok := readQueueBody(c)
	if !ok {
		return
	}
	var limit float64
	if err := json.Unmarshal(body["concurrencyLimit"], &limit); err != nil || limit != float64(int(limit)) ||
		limit < 0 || limit > maxQueueLimit {
		fail(c, http.StatusBadRequest, "concurrencyLimit must be an integer from 0 to "+strconv.Itoa(maxQueueLimit))
		return
	}
	s.setQueueLimit(c, typ, ptrInt(int(limit)))
}

// tdResetQueueLimit is POST /api/v1/queues/:queue/concurrency/reset {type}
// (queues.resetConcurrencyLimit): the queue's own limit (the runs') again.
func (s *Server) tdResetQueueLimit(c *gin.Context) {
	_, typ, ok := readQueueBody(c)
	if !ok {
		return
	}
	s.setQueueLimit(c, typ, nil)
}

func (s *Server) setQueueLimit(c *gin.Context, typ string, limit *int) {
	name, ok := s.queueOfRequest(c, typ)
	if !ok {
		return
	}
	_, woken, err := s.queues.OverrideQueueLimit(c.Request.Context(), envOf(c).ID, name, limit)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	s.wakeQueueWaiters(c, woken)
	s.writeQueue(c, name)
}

func ptrInt(n int) *int { return &n }

// readQueueBody reads a queue route's JSON body and its type ("id" when
// absent, as the SDK sends a queue id).
func readQueueBody(c *gin.Context) (map[string]json.RawMessage, string, bool) {
	body, ok := readRunChangeBody(c)
	if !ok {
		return nil, "", false
	}
	typ := "id"
	if raw, set := body["type"]; set {
		if err := json.Unmarshal(raw, &typ); err != nil {
			fail(c, http.StatusBadRequest, `type must be "id", "task" or "custom"`)
			return nil, "", false
		}
	}
	return body, typ, true
}

// queueOfRequest resolves :queue of type typ to a queue name: an id
// (queue_…) of a queue with a row, a task identifier (its queue
// "task/<task>") or a custom queue's name. The SDK sends a "/" in the value
// as %2F, encoded again.
func (s *Server) queueOfRequest(c *gin.Context, typ string) (string, bool) {
	value := strings.ReplaceAll(strings.ReplaceAll(c.Param("queue"), "%2F", "/"), "%2f", "/")
	if value == "" || len(value) > maxQueueNameBytes || !utf8.ValidString(value) {
		fail(c, http.StatusBadRequest, "the queue must be named by 1 to "+strconv.Itoa(maxQueueNameBytes)+" bytes of UTF-8")
		return "", false
	}
	switch typ {
	case "id":
		name, err := s.queues.QueueNameByID(c.Request.Context(), envOf(c).ID, value)
		if errors.Is(err, store.ErrNotFound) {
			fail(c, http.StatusNotFound, "Queue not found: "+truncate(value, 64)+
				" (only queues with a limit, an override or a pause have an id; name others by type and name)")
			return "", false
		}
		if err != nil {
			s.failInternal(c, err, true)
			return "", false
		}
		return name, true
	case "task":
		return "task/" + strings.TrimPrefix(value, "task/"), true
	case "custom":
		if !batch.ValidQueueName(value) {
			fail(c, http.StatusBadRequest, "a custom queue's name is 1–128 letters, digits and . _ - / : characters")
			return "", false
		}
		return value, true
	}
	fail(c, http.StatusBadRequest, `type must be "id", "task" or "custom"`)
	return "", false
}

// writeQueue answers the queue called name as it is now.
func (s *Server) writeQueue(c *gin.Context, name string) {
	q, err := s.queues.GetQueue(c.Request.Context(), envOf(c).ID, name)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	c.JSON(http.StatusOK, newTDQueue(q))
}

// wakeQueueWaiters signals the batches that waited for a queue the request
// resumed or whose limit it changed. A signal that fails is logged: such a
// batch claims again after its fallback timer.
func (s *Server) wakeQueueWaiters(c *gin.Context, woken []store.QueueWaiter) {
	if s.waker == nil {
		return
	}
	for _, w := range woken {
		if err := s.waker.Wake(c.Request.Context(), w.BatchID, runswf.HintFrom(w.From)); err != nil {
			s.log.WarnContext(c.Request.Context(), "could not wake a batch waiting for a queue", "batch", w.BatchID, "error", err,
				"request_id", requestID(c))
		}
	}
}

// newTDQueue is the QueueItem of q.
func newTDQueue(q store.Queue) wire.TriggerDevQueue {
	out := wire.TriggerDevQueue{ID: q.ID, Name: q.Name, Type: "custom", Running: q.Running, Queued: q.Queued, Paused: q.Paused,
		ConcurrencyLimit: q.Limit(), Version: "V1", ReleaseConcurrencyOnWaitpoint: true,
		Concurrency: wire.TriggerDevQueueConcurrency{Current: q.Limit(), Base: q.Base, Override: q.Override, OverriddenAt: q.OverriddenAt}}
	if task, ok := strings.CutPrefix(q.Name, "task/"); ok {
		out.Name, out.Type = task, "task"
	}
	return out
}
