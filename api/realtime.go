package api

import (
	"bytes"
	"context"
	"encoding/json"
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

// The realtime routes of the trigger.dev SDK (runs.subscribeToRun,
// subscribeToBatch, subscribeToRunsWithTag and the React hooks built on
// them): ElectricSQL shape answers (package wire) over the runs that
// changed since the client's offset (store.RunChanges). A request without
// live=true answers at once: the first pages of a subscription give every
// run, then the changes. With live=true (once the client is up to date) it
// is a long poll: it answers as soon as a run changed, checking every
// Options.RealtimePoll, or with "up-to-date" alone after
// Options.RealtimeWait.

// Realtime defaults (Options).
const (
	defaultRealtimeWait = 20 * time.Second
	defaultRealtimePoll = 500 * time.Millisecond
	defaultRealtimeLive = 100
	// realtimePageRuns is the most runs one answer carries, and
	// realtimePageBytes (or Options.ReadPageBytes when smaller) the most
	// bytes of their stored payloads, outputs, options and errors (the
	// first run always comes): what a live request may hold in memory.
	realtimePageRuns  = 500
	realtimePageBytes = 1 << 20
	// maxRealtimeTags is the most tags one subscription follows.
	maxRealtimeTags = 10
	// defaultTagWindow is how far back subscribeToRunsWithTag looks when
	// it gives no createdAt.
	defaultTagWindow = 24 * time.Hour
	// shapeHandle is the electric-handle of every shape: a shape's
	// offsets stay valid for as long as its runs exist, so it never
	// changes.
	shapeHandle = "streambatch-runs-1"
)

// shapeRelation is the table trigger.dev's shapes are rows of.
var shapeRelation = []string{"public", "TaskRun"}

// realtimeRun is GET /realtime/v1/runs/:runId (runs.subscribeToRun).
func (s *Server) realtimeRun(c *gin.Context) {
	params, ok := readShapeParams(c)
	if !ok {
		return
	}
	b, r, ok := s.runOfRequest(c)
	if !ok {
		return
	}
	index := r.Index
	s.serveShape(c, store.ChangeQuery{BatchID: b.ID, Index: &index}, params)
}

// realtimeBatch is GET /realtime/v1/batches/:batchId (runs.subscribeToBatch).
func (s *Server) realtimeBatch(c *gin.Context) {
	params, ok := readShapeParams(c)
	if !ok {
		return
	}
	b, ok := s.loadBatch(c, http.StatusNotFound)
	if !ok {
		return
	}
	s.serveShape(c, store.ChangeQuery{BatchID: b.ID}, params)
}

// realtimeTagged is GET /realtime/v1/runs?tags=a,b&createdAt=1h
// (runs.subscribeToRunsWithTag): the environment's runs carrying any of the
// tags, created within createdAt (default 24 h).
func (s *Server) realtimeTagged(c *gin.Context) {
	params, ok := readShapeParams(c)
	if !ok {
		return
	}
	tags := tdListValues(c, "tags")
	if len(tags) == 0 || len(tags) > maxRealtimeTags {
		fail(c, http.StatusBadRequest, "tags is required: subscribe to the runs of 1 to "+strconv.Itoa(maxRealtimeTags)+" tags (tags=a,b)")
		return
	}
	if c.Query("tasks") != "" {
		fail(c, http.StatusBadRequest, "tasks is not supported: subscribe by tags")
		return
	}
	window := defaultTagWindow
	if v := c.Query("createdAt"); v != "" {
		d, err := batch.ParseTriggerDuration(v)
		if err != nil || d <= 0 {
			fail(c, http.StatusBadRequest, "createdAt: "+strconv.Quote(truncate(v, 64))+` is not a period such as "1h" or "7d"`)
			return
		}
		window = d
	}
	s.serveShape(c, store.ChangeQuery{EnvID: envOf(c).ID, Tags: tags, CreatedFrom: time.Now().Add(-window).UTC()}, params)
}

// heavyReadUnlessLive counts a realtime request that answers at once (the
// first pages of a subscription) as a heavy read, as runs.list's pages
// are; a live request counts against Options.RealtimeLive instead, for the
// long time it waits.
func (s *Server) heavyReadUnlessLive(c *gin.Context) {
	if c.Query("live") == "true" {
		return
	}
	s.heavyRead(c)
}

// tagsTarget names no batch or run: a token reads tagged runs through
// grantTagsRead (or read:runs, read:all).
func tagsTarget(*gin.Context) (string, string) { return "", "" }

// grantTagsRead grants a token the runs of ?tags= when it may read every
// tag asked for (read:tags:<tag>, or read:tags).
func grantTagsRead(c *gin.Context, t *publicToken) (granted, answered bool) {
	tags := tdListValues(c, "tags")
	return len(tags) > 0 && !slices.ContainsFunc(tags, func(tag string) bool { return !readsTag(t.scopes, []string{tag}) }), false
}

// shapeParams are a shape request's protocol parameters.
type shapeParams struct {
	at   store.ChangeOffset
	live bool
	// skip are the columns the client asked to leave out (skipColumns).
	skip map[string]bool
}

// shapeRequired are the columns skipColumns cannot leave out: the SDK
// needs them to parse a run.
var shapeRequired = map[string]bool{"id": true, "taskIdentifier": true, "friendlyId": true, "status": true,
	"createdAt": true, "updatedAt": true}

// readShapeParams reads offset, live and skipColumns, or answers 400.
func readShapeParams(c *gin.Context) (shapeParams, bool) {
	var p shapeParams
	offset := c.DefaultQuery("offset", "-1")
	at, err := store.ParseChangeOffset(offset)
	if err != nil {
		fail(c, http.StatusBadRequest, "offset "+strconv.Quote(truncate(offset, 64))+
			" is not -1 or the electric-offset of an earlier answer of this shape")
		return p, false
	}
	p.at = at
	switch live := c.Query("live"); live {
	case "", "false":
	case "true":
		p.live = true
	default:
		fail(c, http.StatusBadRequest, "live must be true or false")
		return p, false
	}
	for _, col := range tdListValues(c, "skipColumns") {
		if shapeRequired[col] {
			fail(c, http.StatusBadRequest, "skipColumns cannot skip "+col)
			return p, false
		}
		if p.skip == nil {
			p.skip = map[string]bool{}
		}
		p.skip[col] = true
	}
	return p, true
}

// serveShape answers a shape request for the runs q selects: the changes
// after p.at now, or, for a live request, as soon as there are any (or
// "up-to-date" alone when Options.RealtimeWait passes). Live requests count
// against the environment's Options.RealtimeLive.
func (s *Server) serveShape(c *gin.Context, q store.ChangeQuery, p shapeParams) {
	ctx := c.Request.Context()
	if p.live {
		release := s.live.enter(envOf(c).ID)
		if release == nil {
			c.Header("Retry-After", "1")
			fail(c, http.StatusTooManyRequests, "Too many live realtime subscriptions for this environment (at most "+
				strconv.Itoa(s.live.limit)+" at once on this server): retry in 1 s, or subscribe with fewer clients")
			return
		}
		defer release()
	}
	wait, poll := s.opts.RealtimeWait, s.opts.RealtimePoll
	if wait <= 0 {
		wait = defaultRealtimeWait
	}
	if poll <= 0 {
		poll = defaultRealtimePoll
	}
	deadline := time.Now().Add(wait)
	at := p.at
	var timer *time.Timer
	for {
		body, n, next, upToDate, err := s.shapePage(ctx, q, at, p.skip)
		if err != nil {
			if ctx.Err() != nil {
				return // the client left
			}
			s.failInternal(c, err, true)
			return
		}
		if n > 0 || !upToDate || !p.live || !time.Now().Add(poll).Before(deadline) {
			writeShape(c, body, next, upToDate)
			return
		}
		// Nothing changed up to next's snapshot: wait from there.
		at = next
		if timer == nil {
			timer = time.NewTimer(poll)
			defer timer.Stop()
		} else {
			timer.Reset(poll)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// shapePage reads one page of changes after at into a shape answer's body
// (the messages, and "up-to-date" when the page ends the round): n runs,
// next the offset after them.
func (s *Server) shapePage(ctx context.Context, q store.ChangeQuery, at store.ChangeOffset, skip map[string]bool) (
	body []byte, n int, next store.ChangeOffset, upToDate bool, err error) {
	op := wire.ShapeUpdate
	if at.Lower == "" {
		op = wire.ShapeInsert // the first round: the subscriber has no run yet
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	next, upToDate, err = s.runChanges(ctx, q, at, realtimePageRuns, min(s.pageBudget(), realtimePageBytes), func(r *store.RunChange) bool {
		if r.Status == batch.RunCached {
			// An item whose idempotency key named an existing run: that run
			// belongs to another batch (subscribeToRun follows it), and
			// trigger.dev's shape has no such status.
			return true
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		row := shapeRow(r, skip)
		err := enc.Encode(wire.ShapeMessage{Key: `"public"."TaskRun"/"` + r.ID + `"`, Value: &row,
			Headers: wire.ShapeMessageHeader{Operation: op, Relation: shapeRelation}})
		return err == nil
	})
	if err != nil {
		return nil, 0, store.ChangeOffset{}, false, err
	}
	if upToDate {
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"headers":{"control":"` + wire.ShapeUpToDate + `"}}`)
	}
	buf.WriteByte(']')
	return buf.Bytes(), n, next, upToDate, nil
}

// writeShape sends a shape answer: the body, and the protocol headers the
// client needs (electric-offset to go on from, electric-up-to-date when the
// round ended).
func writeShape(c *gin.Context, body []byte, next store.ChangeOffset, upToDate bool) {
	h := c.Writer.Header()
	h.Set("electric-offset", next.String())
	h.Set("electric-handle", shapeHandle)
	h.Set("electric-schema", string(wire.TriggerDevRunShapeSchema))
	// The live cache buster: changes every 20 s, as the long poll's span.
	h.Set("electric-cursor", strconv.FormatInt(time.Now().Unix()/20, 10))
	if upToDate {
		h.Set("electric-up-to-date", "")
	}
	h.Set("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// realtimeCORS lets browsers on any origin subscribe (the React hooks):
// the routes authenticate with a Bearer credential, never a cookie. A
// preflight (OPTIONS) is answered here; the answer's electric-* headers are
// exposed to the page.
func realtimeCORS(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "electric-offset, electric-handle, electric-schema, electric-cursor, electric-up-to-date, retry-after")
	if c.Request.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "authorization, content-type, trigger-version, x-trigger-branch, "+
			"x-trigger-electric-version, x-trigger-api-version, x-trigger-client")
		h.Set("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
	}
}

// shapeTime is a time as the shape's columns give it: UTC without a zone.
func shapeTime(t time.Time) *string {
	s := t.UTC().Format("2006-01-02T15:04:05.000")
	return &s
}

// shapeStatus is trigger.dev's TaskRunStatus (the table's) for st, which the
// SDK maps back to the API's RunStatus.
func shapeStatus(st batch.RunStatus) string {
	switch st {
	case batch.RunQueued:
		return "PENDING"
	case batch.RunCompleted:
		return "COMPLETED_SUCCESSFULLY"
	case batch.RunFailed:
		return "COMPLETED_WITH_ERRORS"
	}
	return string(st) // DELAYED, EXECUTING, CANCELED, EXPIRED, TIMED_OUT
}

// shapePacket is a stored payload or output as the SDK parses it from a
// shape: JSON text as is (other text as a JSON string, so that it parses),
// other types as stored. An application/store packet is NULL: the SDK would
// fetch it through a route streambatch does not serve (runs.retrieve gives
// its presigned URL).
func shapePacket(data *string, typ *string) (text, dataType *string) {
	if data == nil || typ == nil || *typ == batch.PayloadTypeStore {
		return nil, nil
	}
	if *typ == batch.PayloadTypeJSON && !json.Valid([]byte(*data)) {
		raw, _ := json.Marshal(*data)
		s := string(raw)
		return &s, typ
	}
	return data, typ
}

// pgTextArray writes ss as a PostgreSQL array literal, every element
// quoted, as @electric-sql/client parses text[] values.
func pgTextArray(ss []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range s {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// shapeRow is run r as a shape's row, without the columns in skip.
func shapeRow(r *store.RunChange, skip map[string]bool) wire.TriggerDevRunRow {
	str := func(s string) *string { return &s }
	keep := func(col string, v *string) **string {
		if skip[col] {
			return nil
		}
		return &v
	}
	row := wire.TriggerDevRunRow{ID: r.ID, TaskIdentifier: r.Task, FriendlyID: r.ID, Status: shapeStatus(r.Status),
		CreatedAt: *shapeTime(r.CreatedAt), UpdatedAt: *shapeTime(r.CreatedAt), QueuedAt: shapeTime(r.CreatedAt)}
	if r.StartedAt != nil {
		row.StartedAt, row.UpdatedAt = shapeTime(*r.StartedAt), *shapeTime(*r.StartedAt)
	}
	if r.DelayUntil != nil && r.Status == batch.RunDelayed {
		row.DelayUntil = shapeTime(*r.DelayUntil)
	}
	if r.Status.Final() {
		// A run that failed at creation has no completion time: the SDK
		// ends subscribeToRun on completedAt.
		done := r.CreatedAt
		if r.CompletedAt != nil {
			done = *r.CompletedAt
		}
		row.CompletedAt, row.UpdatedAt = shapeTime(done), *shapeTime(done)
		if r.Status == batch.RunExpired {
			row.ExpiredAt = row.CompletedAt
		}
	}
	duration := int64(0)
	if r.StartedAt != nil && r.CompletedAt != nil {
		duration = r.CompletedAt.Sub(*r.StartedAt).Milliseconds()
	}
	var tags []string
	var metadata, metadataType *string
	if o := batch.StoredItemOptions(r.Options); o.Refused == "" {
		if o.IdempotencyKey != "" {
			row.IdempotencyKey = str(o.IdempotencyKey)
		}
		if o.TTL > 0 {
			row.TTL = str(o.TTL.String())
		}
		if len(o.Metadata) > 0 && o.Metadata[0] == '{' {
			metadata, metadataType = str(string(o.Metadata)), str(batch.PayloadTypeJSON)
		}
		tags = o.Tags
	}
	for col, v := range map[string]**string{"number": &row.Number, "isTest": &row.IsTest,
		"usageDurationMs": &row.UsageDurationMs, "costInCents": &row.CostInCents, "baseCostInCents": &row.BaseCostInCents} {
		if !skip[col] {
			*v = str("0")
		}
	}
	if row.IsTest != nil {
		row.IsTest = str("false")
	}
	if row.UsageDurationMs != nil {
		row.UsageDurationMs = str(strconv.FormatInt(duration, 10))
	}
	payload, payloadType := shapePacket(r.Payload, &r.PayloadType)
	output, outputType := shapePacket(r.Output, r.OutputType)
	row.Payload, row.PayloadType = keep("payload", payload), keep("payloadType", payloadType)
	row.Output, row.OutputType = keep("output", output), keep("outputType", outputType)
	row.Metadata, row.MetadataType = keep("metadata", metadata), keep("metadataType", metadataType)
	if !skip["runTags"] {
		row.RunTags = str(pgTextArray(tags))
	}
	if !skip["realtimeStreams"] {
		row.RealtimeStreams = str("{}")
	}
	var taskErr *string
	if r.ErrorCode != nil && r.Status != batch.RunCompleted {
		raw, _ := json.Marshal(map[string]string{"type": "BUILT_IN_ERROR", "name": *r.ErrorCode,
			"message": deref(r.ErrorMessage), "stackTrace": ""})
		taskErr = str(string(raw))
	}
	row.Error = keep("error", taskErr)
	return row
}
