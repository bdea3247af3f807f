package api

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
)

// The trigger.dev read routes: what the unchanged SDK calls to see a batch
// and its runs (batch.retrieve, runs.retrieve, runs.list({batch}),
// runs.cancel, the batch and run results routes), answering with the
// TriggerDev types of package wire; triggerdev_runs.go has the routes that
// change one run.

// downloadURLTTL is how long presigned payload and output URLs stay valid.
const downloadURLTTL = time.Hour

// tdBatchStatus maps a batch to trigger.dev's BatchStatus: a completed
// batch some of whose items could not become runs is PARTIAL_FAILED.
func tdBatchStatus(b store.Batch, creationErrors bool) string {
	if b.Status == batch.StatusCompleted && creationErrors {
		return "PARTIAL_FAILED"
	}
	return string(b.Status)
}

// tdRetrieveBatch is GET /api/v1/batches/:batchId (RetrieveBatchResponse)
// and, with processing, GET /api/v2/batches/:batchId (V2). runs lists the
// run ids in index order; it is written as it is produced, so a batch of
// a million runs costs no million-element slice.
func (s *Server) tdRetrieveBatch(v2 bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		b, ok := s.loadBatch(c, http.StatusNotFound)
		if !ok {
			return
		}
		ctx := c.Request.Context()
		hasErrs, err := s.store.HasCreationErrors(ctx, b.ID)
		if err != nil {
			s.failInternal(c, err, true)
			return
		}
		var indexes *batch.IndexSet
		if !b.Sealed {
			if indexes, err = s.store.RunIndexes(ctx, b.ID, b.RunCount); err != nil {
				s.failInternal(c, err, true)
				return
			}
		}
		out := wire.TriggerDevBatch{ID: b.ID, Status: tdBatchStatus(b, hasErrs), IdempotencyKey: b.IdempotencyKey,
			CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, RunCount: b.RunCount}
		head, err := json.Marshal(out)
		if err != nil {
			s.failInternal(c, err, true)
			return
		}
		start := string(head[:len(head)-1])
		if v2 {
			// processing.errors is written as its rows come.
			p, _ := json.Marshal(wire.TriggerDevProcessing{CompletedAt: b.SealedAt})
			start += `,"processing":` + strings.TrimSuffix(string(p), `"errors":null}`) + `"errors":[`
		}
		errs := streamJSON(c, start, math.MaxInt)
		if v2 && hasErrs {
			err := s.store.EachCreationError(ctx, b.ID, func(e store.CreationError) bool {
				return errs.add(wire.TriggerDevProcessingError{Index: e.Index, TaskIdentifier: e.Task, Error: e.Message, ErrorCode: e.Code})
			})
			if err == nil && errs.err != nil {
				return // the client left
			}
			if err != nil {
				s.endBroken(c, errs, err)
				return
			}
		}
		tail := ""
		if v2 {
			tail = "]}"
		}
		if errs.end(tail) != nil {
			return
		}
		s.writeRunIDs(c, b, indexes)
	}
}

// runOfRequest resolves :runId in the caller's environment.
func (s *Server) runOfRequest(c *gin.Context) (store.Batch, store.Run, bool) {
	id := c.Param("runId")
	batchID, index, ok := batch.ParseRunID(id)
	notFound := func() (store.Batch, store.Run, bool) {
		fail(c, http.StatusNotFound, "Run "+truncate(id, 64)+" not found")
		return store.Batch{}, store.Run{}, false
	}
	if !ok {
		return notFound()
	}
	ctx := c.Request.Context()
	b, err := s.store.GetBatch(ctx, envOf(c).ID, batchID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		s.failInternal(c, err, true)
		return store.Batch{}, store.Run{}, false
	}
	r, err := s.store.GetRun(ctx, b.ID, index)
	if err == nil && r.CachedRunID != "" {
		// An item whose idempotency key named another run: that run.
		b, r, err = s.shownRun(ctx, b.EnvironmentID, r)
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		s.failInternal(c, err, true)
		return store.Batch{}, store.Run{}, false
	}
	return b, r, true
}

// tdRetrieveRun is GET /api/v3/runs/:runId (RetrieveRunResponse).
func (s *Server) tdRetrieveRun(c *gin.Context) {
	b, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	s.writeTDRun(c, b, r)
}

// writeTDRun answers run r of batch b as RetrieveRunResponse.
func (s *Server) writeTDRun(c *gin.Context, b store.Batch, r store.Run) {
	ctx := c.Request.Context()
	out := wire.TriggerDevRetrievedRun{TriggerDevRun: newTDRun(r), TriggerFunction: "batchTrigger", BatchID: b.ID, AttemptCount: r.Attempts}
	var err error
	if out.Payload, out.PayloadPresignedURL, err = s.tdPacket(ctx, r.Payload, r.PayloadType); err != nil {
		s.failInternal(c, err, true)
		return
	}
	if r.OutputType != nil {
		if out.Output, out.OutputPresignedURL, err = s.tdPacket(ctx, r.Output, *r.OutputType); err != nil {
			s.failInternal(c, err, true)
			return
		}
	}
	if r.ErrorCode != nil && r.Status != batch.RunCompleted {
		out.Error = &wire.TriggerDevSerializedError{Name: *r.ErrorCode, Message: deref(r.ErrorMessage)}
	}
	c.JSON(http.StatusOK, out)
}

// tdRunResult is GET /api/v1/runs/:runId/result (ApiClient.getRunResult):
// a finished run's TaskRunExecutionResult. A run not finished yet has no
// result: 404, which the SDK answers as undefined.
func (s *Server) tdRunResult(c *gin.Context) {
	_, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	if !r.Status.Final() {
		fail(c, http.StatusNotFound, "Run "+r.ID+" is "+string(r.Status)+": it has no result until it finishes")
		return
	}
	c.JSON(http.StatusOK, newTDResult(&r))
}

// tdPacket turns a stored packet into what the SDK expects: JSON as its
// value, superjson as its "json" member, other text as a string, and an
// application/store object as a presigned URL the SDK fetches itself.
func (s *Server) tdPacket(ctx context.Context, data *string, typ string) (json.RawMessage, string, error) {
	if data == nil {
		return nil, "", nil
	}
	switch typ {
	case batch.PayloadTypeStore:
		url, err := s.packets.PresignGet(ctx, *data, downloadURLTTL)
		return nil, url, err
	case batch.PayloadTypeJSON:
		if json.Valid([]byte(*data)) {
			return json.RawMessage(*data), "", nil
		}
	case "application/super+json":
		var sj struct {
			JSON json.RawMessage `json:"json"`
		}
		if json.Unmarshal([]byte(*data), &sj) == nil && sj.JSON != nil {
			return sj.JSON, "", nil
		}
	}
	raw, err := json.Marshal(*data)
	return raw, "", err
}

// newTDRun fills trigger.dev's common run fields. Every status of ours is
// one of trigger.dev's, with the same name.
func newTDRun(r store.Run) wire.TriggerDevRun {
	st := r.Status
	out := wire.TriggerDevRun{ID: r.ID, Status: tdRunStatus(st), TaskIdentifier: r.Task,
		IsQueued:    st == batch.RunQueued || st == batch.RunDelayed,
		IsExecuting: st == batch.RunExecuting,
		IsCompleted: st.Final(),
		IsSuccess:   st == batch.RunCompleted,
		IsFailed:    st == batch.RunFailed || st == batch.RunTimedOut || st == batch.RunExpired,
		IsCancelled: st == batch.RunCanceled,
		CreatedAt:   r.CreatedAt, UpdatedAt: r.CreatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.CompletedAt, DelayedUntil: r.DelayUntil, Tags: []string{},
	}
	if r.CompletedAt != nil {
		out.UpdatedAt = *r.CompletedAt
	} else if r.StartedAt != nil {
		out.UpdatedAt = *r.StartedAt
	}
	if st == batch.RunExpired {
		out.ExpiredAt = r.CompletedAt
	}
	if r.StartedAt != nil && r.CompletedAt != nil {
		out.DurationMs = r.CompletedAt.Sub(*r.StartedAt).Milliseconds()
	}
	if o := batch.StoredItemOptions(r.Options); o.Refused == "" {
		out.IdempotencyKey = o.IdempotencyKey
		if o.Tags != nil {
			out.Tags = o.Tags
		}
		if len(o.Metadata) > 0 && o.Metadata[0] == '{' {
			out.Metadata = o.Metadata
		}
		if o.TTL > 0 {
			out.TTL = o.TTL.String()
		}
	}
	return out
}

// tdRunStatus is the trigger.dev RunStatus a run of status st is shown
// with (runs.retrieve, runs.list); tdListRuns' filter[status] selects by it.
func tdRunStatus(st batch.RunStatus) string { return string(st) }

// tdRunStatuses are trigger.dev's RunStatus values (@trigger.dev/core's
// RunStatus enum), each with the streambatch run statuses shown as it.
// Those streambatch never shows (PENDING_VERSION, DEQUEUED, WAITING,
// CRASHED, SYSTEM_FAILURE) select no run.
var tdRunStatuses = func() map[string][]batch.RunStatus {
	m := map[string][]batch.RunStatus{}
	for _, td := range []string{"PENDING_VERSION", "QUEUED", "DEQUEUED", "EXECUTING", "WAITING", "COMPLETED",
		"CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "DELAYED", "EXPIRED", "TIMED_OUT"} {
		m[td] = []batch.RunStatus{}
	}
	for _, st := range batch.RunStatuses {
		td := tdRunStatus(st)
		m[td] = append(m[td], st)
	}
	return m
}()

// Page sizes of GET /api/v1/runs (trigger.dev's page[size]).
const (
	defaultTDPage = 25
	maxTDPage     = 100
)

// tdListRunsKeys are the filter[…] and page[…] parameters of GET
// /api/v1/runs that tdListRuns honours; any other is refused.
var tdListRunsKeys = map[string]bool{
	"filter[batch]": true, "filter[status]": true, "filter[taskIdentifier]": true, "filter[tag]": true,
	"filter[createdAt][from]": true, "filter[createdAt][to]": true, "filter[createdAt][period]": true,
	"filter[idempotencyKey]": true, "page[size]": true, "page[after]": true, "page[before]": true,
}

// tdListTime parses a filter[createdAt][from|to] value: milliseconds since
// the epoch (what the SDK sends) or an ISO 8601 time.
func tdListTime(v string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		if ms < 0 || ms > 253402300799999 { // 9999-12-31T23:59:59.999Z
			return time.Time{}, false
		}
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// tdListValues splits the comma-separated values of query parameter key
// (every occurrence), dropping empty ones.
func tdListValues(c *gin.Context, key string) []string {
	var out []string
	for _, v := range c.QueryArray(key) {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// tdRunFilter reads filter[status], filter[taskIdentifier], filter[tag] and
// filter[createdAt][from|to|period] of runs.list; msg names what is wrong when ok is false.
func tdRunFilter(c *gin.Context) (f store.RunFilter, msg string, ok bool) {
	if names := tdListValues(c, "filter[status]"); len(names) > 0 {
		f.Statuses = []batch.RunStatus{}
		for _, name := range names {
			sts, known := tdRunStatuses[name]
			if !known {
				return f, "filter[status]: " + strconv.Quote(truncate(name, 64)) + " is not a run status", false
			}
			f.Statuses = append(f.Statuses, sts...)
		}
	}
	if tasks := tdListValues(c, "filter[taskIdentifier]"); len(tasks) > 0 {
		f.Tasks = tasks
	}
	if tags := tdListValues(c, "filter[tag]"); len(tags) > 0 {
		f.Tags = tags // the runs carrying any of them
	}
	for _, bound := range []struct {
		key string
		to  **time.Time
	}{{"filter[createdAt][from]", &f.CreatedFrom}, {"filter[createdAt][to]", &f.CreatedTo}} {
		if v := c.Query(bound.key); v != "" {
			t, ok := tdListTime(v)
			if !ok {
				return f, bound.key + ": " + strconv.Quote(truncate(v, 64)) +
					" is neither milliseconds since the epoch nor an ISO 8601 time", false
			}
			*bound.to = &t
		}
	}
	if v := c.Query("filter[createdAt][period]"); v != "" {
		d, err := batch.ParseTriggerDuration(v)
		if err != nil || d <= 0 {
			return f, "filter[createdAt][period]: " + strconv.Quote(truncate(v, 64)) +
				` is not a period such as "1h" or "7d"`, false
		}
		// The period is the time up to now: it narrows from, never widens it.
		if since := time.Now().Add(-d).UTC(); f.CreatedFrom == nil || since.After(*f.CreatedFrom) {
			f.CreatedFrom = &since
		}
	}
	return f, "", true
}

// tdListRuns is GET /api/v1/runs?filter[batch]=…&filter[status]=…&
// filter[taskIdentifier]=…&filter[tag]=…&filter[createdAt][from|to|period]=…&
// page[size]=&page[after]=|page[before]= (runs.list({batch, status,
// taskIdentifier, tag, from, to, period}) and its pages' getNextPage and
// getPreviousPage): a batch's runs in index order, or without
// filter[batch] the environment's runs newest first. Any other filter[…]
// or page[…] parameter is refused, never ignored.
func (s *Server) tdListRuns(c *gin.Context) {
	var unsupported []string
	for key := range c.Request.URL.Query() {
		if (strings.HasPrefix(key, "filter[") || strings.HasPrefix(key, "page[")) && !tdListRunsKeys[key] {
			unsupported = append(unsupported, truncate(key, 64))
		}
	}
	if len(unsupported) > 0 {
		slices.Sort(unsupported)
		verb := " is"
		if len(unsupported) > 1 {
			verb = " are"
		}
		fail(c, http.StatusBadRequest, strings.Join(unsupported, ", ")+verb+
			" not supported: runs.list honours filter[batch], filter[status], filter[taskIdentifier], filter[tag], filter[createdAt][from|to|period], filter[idempotencyKey], page[size], page[after] and page[before]")
		return
	}
	filter, msg, ok := tdRunFilter(c)
	if !ok {
		fail(c, http.StatusBadRequest, msg)
		return
	}
	size := defaultTDPage
	if v := c.Query("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTDPage {
			fail(c, http.StatusBadRequest, "page[size] must be an integer from 1 to 100")
			return
		}
		size = n
	}
	ctx := c.Request.Context()
	env := envOf(c)
	batchID := c.Query("filter[batch]")
	if key := c.Query("filter[idempotencyKey]"); key != "" {
		if c.Query("page[after]") != "" || c.Query("page[before]") != "" {
			fail(c, http.StatusBadRequest, "filter[idempotencyKey] lists one page (a key names one run per task): page[after] and page[before] do not apply")
			return
		}
		s.tdListKeyRuns(c, env, key, batchID, filter, size)
		return
	}
	if batchID == "" {
		// page[before] wins over page[after], as below.
		if before := c.Query("page[before]"); before != "" {
			s.streamTDRunsPage(c, env, tdBefore, func(fn func(*store.Run) bool) (bool, error) {
				return s.eachEnvRunBefore(ctx, env.ID, filter, before, size, s.pageBudget(), fn)
			})
			return
		}
		after := c.Query("page[after]")
		cursor := tdFirst
		if after != "" {
			cursor = tdAfter
		}
		s.streamTDRunsPage(c, env, cursor, func(fn func(*store.Run) bool) (bool, error) {
			return s.eachEnvRun(ctx, env.ID, filter, after, size, s.pageBudget(), fn)
		})
		return
	}
	// page[before] wins over page[after]: the SDK's getPreviousPage sends
	// both (the page's own after with the before it asks for).
	cursor, at := tdFirst, -1
	for _, k := range []struct {
		key    string
		cursor tdCursor
	}{{"page[before]", tdBefore}, {"page[after]", tdAfter}} {
		if v := c.Query(k.key); v != "" {
			bid, i, ok := batch.ParseRunID(v)
			if !ok || bid != batchID {
				fail(c, http.StatusBadRequest, k.key+" must be a run id of the batch (pagination.next or previous of a page)")
				return
			}
			cursor, at = k.cursor, i
			break
		}
	}
	if !batch.ValidBatchID(batchID) {
		fail(c, http.StatusNotFound, "Batch "+truncate(batchID, 64)+" not found")
		return
	}
	b, err := s.store.GetBatch(ctx, env.ID, batchID)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, http.StatusNotFound, "Batch "+batchID+" not found")
		return
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	s.streamTDRunsPage(c, env, cursor, s.showCached(ctx, b, filter, func(filter store.RunFilter, fn func(*store.Run) bool) (bool, error) {
		if cursor == tdBefore {
			return s.eachRunBefore(ctx, b.ID, filter, at, size, s.pageBudget(), fn)
		}
		return s.eachRun(ctx, b.ID, filter, at, size, s.pageBudget(), fn)
	}))
}

// tdCursor is the cursor a runs.list page follows.
type tdCursor int

const (
	tdFirst  tdCursor = iota // none: the first page
	tdAfter                  // page[after]: the page after a run
	tdBefore                 // page[before]: the page before a run
)

// streamTDRunsPage writes one ListRunResponse page of the runs each gives
// (at most a page, within the page's byte budget) in list order, and more
// (whether runs remain beyond the page, away from the cursor).
// pagination.next is the last run written and pagination.previous the
// first, each when runs lie on that side: after the page when more (or
// the page followed page[before]), before it when the page followed
// page[after] (or more, following page[before]). A cursor each does not
// find (store.ErrNotFound) is a 400.
func (s *Server) streamTDRunsPage(c *gin.Context, env store.Environment, cursor tdCursor, each func(fn func(*store.Run) bool) (bool, error)) {
	page := streamJSON(c, `{"data":[`, s.pageBudget())
	tenv := wire.TriggerDevEnv{ID: strconv.FormatInt(env.ID, 10), Name: env.Name}
	var first, last string
	more, err := each(func(r *store.Run) bool {
		if passedOver(r) {
			last = rowID(r)
			return true
		}
		if !page.add(wire.TriggerDevListedRun{TriggerDevRun: newTDRun(*r), Env: tenv}) {
			return false
		}
		if first == "" {
			first = rowID(r)
		}
		last = rowID(r)
		return true
	})
	if err == nil && page.err != nil {
		return // the client left
	}
	if errors.Is(err, store.ErrNotFound) && !page.started() {
		key := "page[after]"
		if cursor == tdBefore {
			key = "page[before]"
		}
		fail(c, http.StatusBadRequest, key+" must be a run id of the environment (pagination.next or previous of a page)")
		return
	}
	if err != nil {
		s.endBroken(c, page, err)
		return
	}
	var p wire.TriggerDevPagination
	if cursor == tdBefore {
		// A page before a run always has runs after it: that run, and
		// those the byte budget left out.
		p.Next = last
		if more {
			p.Previous = first
		}
	} else {
		if more && last != "" {
			p.Next = last
		}
		if cursor == tdAfter {
			p.Previous = first
		}
	}
	tail, _ := json.Marshal(p)
	_ = page.end(`],"pagination":` + string(tail) + "}")
}

// tdCancelRun is POST /api/v2/runs/:runId/cancel (runs.cancel): {id}.
func (s *Server) tdCancelRun(c *gin.Context) {
	b, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	if !r.Status.Final() {
		if _, err := s.cancel(c.Request.Context(), b, r.Index); err != nil {
			s.failInternal(c, err, true)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"id": r.ID})
}

// tdBatchResults is GET /api/v1/batches/:batchId/results
// (BatchTaskRunExecutionResult): the result of every finished run, in index
// order, written page by page.
func (s *Server) tdBatchResults(c *gin.Context) {
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	s.streamResults(c, b)
}

// streamResults writes every final run's result of b, in index order, as
// the rows come: the runs are read page by page (each within the byte
// budget) and written one by one, so memory holds one run at a time.
func (s *Server) streamResults(c *gin.Context, b store.Batch) {
	ctx := c.Request.Context()
	head, _ := json.Marshal(b.ID)
	// Unlimited: the route has no pages; each read below is bounded.
	items := streamJSON(c, `{"id":`+string(head)+`,"items":[`, math.MaxInt)
	for after, more := -1, true; more; {
		var err error
		from := after
		each := s.showCached(ctx, b, store.RunFilter{}, func(filter store.RunFilter, fn func(*store.Run) bool) (bool, error) {
			return s.eachRun(ctx, b.ID, filter, from, maxRunsLimit, s.pageBudget(), fn)
		})
		more, err = each(func(r *store.Run) bool {
			after = rowIndex(r)
			if passedOver(r) || !r.Status.Final() {
				return true
			}
			return items.add(newTDResult(r))
		})
		if err == nil && items.err != nil {
			return // the client left
		}
		if err != nil {
			s.endBroken(c, items, err)
			return
		}
	}
	_ = items.end("]}")
}

// newTDResult is a final run's TaskRunExecutionResult.
func newTDResult(r *store.Run) wire.TriggerDevResult {
	item := wire.TriggerDevResult{ID: r.ID, TaskIdentifier: r.Task}
	if r.Status == batch.RunCompleted {
		item.OK, item.Output, item.OutputType = true, r.Output, batch.OutputTypeJSON
		if r.OutputType != nil {
			item.OutputType = *r.OutputType
		}
	} else {
		code := string(r.Status)
		if r.ErrorCode != nil {
			code = *r.ErrorCode
		}
		item.Error = &wire.TriggerDevTaskError{Type: "BUILT_IN_ERROR", Name: code, Message: deref(r.ErrorMessage)}
	}
	return item
}
