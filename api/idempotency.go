package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/wire"
)

// Item idempotency keys on the read side: an item whose key named an
// existing run is a CACHED row of its batch (store.Run.CachedRunID), shown
// everywhere as the run it names; and trigger.dev's idempotencyKeys.reset.

// maxIdempotencyKeyChars is the longest idempotency key (trigger.dev's,
// in JavaScript characters).
const maxIdempotencyKeyChars = 2048

// tdResetIdempotencyKey is POST /api/v1/idempotencyKeys/:key/reset
// (idempotencyKeys.reset(taskIdentifier, key)), body {"taskIdentifier"}:
// the key no longer names a run of the task in the caller's environment,
// so the next item with it creates a new run. 200 {"id": key}; 404 when
// the key names no run of the task. A secret key only, like the other
// routes that change runs.
func (s *Server) tdResetIdempotencyKey(c *gin.Context) {
	key := c.Param("key")
	if key == "" || !utf8.ValidString(key) || batch.TagChars(key) > maxIdempotencyKeyChars {
		fail(c, http.StatusBadRequest, "The idempotency key must be 1 to 2048 characters of UTF-8")
		return
	}
	body, ok := readRunChangeBody(c)
	if !ok {
		return
	}
	var task string
	if raw, ok := body["taskIdentifier"]; !ok || json.Unmarshal(raw, &task) != nil || task == "" {
		fail(c, http.StatusBadRequest, `taskIdentifier is required: the body is {"taskIdentifier": "<task id>"}`)
		return
	}
	err := s.store.ResetIdempotencyKey(c.Request.Context(), envOf(c).ID, key, task)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, http.StatusNotFound, "No runs found with idempotency key: "+truncate(key, 128)+" and task: "+truncate(task, 128))
		return
	}
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": key})
}

// shownRun is the run a CACHED row names, or r itself.
func (s *Server) shownRun(ctx context.Context, envID int64, r store.Run) (store.Batch, store.Run, error) {
	id := r.CachedRunID
	batchID, index, ok := batch.ParseRunID(id)
	if !ok {
		return store.Batch{}, store.Run{}, errors.New("api: CACHED run " + r.ID + " names " + strconv.Quote(id))
	}
	b, err := s.store.GetBatch(ctx, envID, batchID)
	if err != nil {
		return store.Batch{}, store.Run{}, err
	}
	named, err := s.store.GetRun(ctx, b.ID, index)
	return b, named, err
}

// showCached wraps each, a page of batch b's runs, so that it gives each
// CACHED row as the run it names (RowID and RowIndex keep the row: the
// page's cursor). A batch without CACHED rows (nearly every one) pays one
// look at its row and is streamed as each gives it; otherwise the page is
// held (a page is bounded by its size and byte budget) while the runs its
// CACHED rows name are read, in one query. A status filter is applied to
// the runs shown: the page asks each for CACHED rows too, and gives one
// whose run the filter drops as a Run with only RowID and RowIndex set
// (passedOver), so that the page's cursor moves past it.
func (s *Server) showCached(ctx context.Context, b store.Batch, filter store.RunFilter,
	each func(filter store.RunFilter, fn func(*store.Run) bool) (bool, error)) func(fn func(*store.Run) bool) (bool, error) {
	return func(fn func(*store.Run) bool) (bool, error) {
		has, err := s.store.HasCachedRuns(ctx, b.ID)
		if err != nil {
			return false, err
		}
		if !has {
			return each(filter, fn)
		}
		wide := filter
		if filter.Statuses != nil {
			wide.Statuses = append(slices.Clip(filter.Statuses), batch.RunCached)
		}
		var page []store.Run
		var ids []string
		more, err := each(wide, func(r *store.Run) bool {
			page = append(page, *r)
			if r.CachedRunID != "" {
				ids = append(ids, r.CachedRunID)
			}
			return true
		})
		if err != nil {
			return false, err
		}
		named, err := s.store.RunsByID(ctx, b.EnvironmentID, ids)
		if err != nil {
			return false, err
		}
		for k := range page {
			r := &page[k]
			if r.CachedRunID != "" {
				n, ok := named[r.CachedRunID]
				if !ok {
					return false, errors.New("api: CACHED run " + r.ID + " names " + r.CachedRunID + ", which is not a run of its environment")
				}
				if filter.Statuses != nil && !slices.Contains(filter.Statuses, n.Status) {
					n = store.Run{}
				}
				n.RowID, n.RowIndex = r.ID, r.Index
				r = &n
			}
			if !fn(r) {
				return true, nil
			}
		}
		return more, nil
	}
}

// passedOver reports whether r is a row a filtered page passed over
// (showCached): it moves the page's cursor and is not listed.
func passedOver(r *store.Run) bool { return r.ID == "" }

// rowID is the id of the batch row a listed run came from (a page's
// cursor): the CACHED row's for a run shown in its place.
func rowID(r *store.Run) string {
	if r.RowID != "" {
		return r.RowID
	}
	return r.ID
}

// rowIndex is rowID's index.
func rowIndex(r *store.Run) int {
	if r.RowID != "" {
		return r.RowIndex
	}
	return r.Index
}

// writeRunIDs writes the ids of b's runs in index order as a JSON array
// (after a leading comma and "runs":), the id each CACHED row names in its
// place; indexes, when not nil, are the indexes that have a run (an
// unsealed batch). It returns false when the client left.
func (s *Server) writeRunIDs(c *gin.Context, b store.Batch, indexes *batch.IndexSet) bool {
	ctx := c.Request.Context()
	w := c.Writer
	var buf bytes.Buffer
	buf.WriteString(`,"runs":[`)
	first, gone := true, false
	put := func(id string) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		buf.WriteByte('"')
		buf.WriteString(id)
		buf.WriteByte('"')
		if buf.Len() > 64<<10 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				gone = true
			}
			buf.Reset()
		}
	}
	next := 0
	upTo := func(end int) { // the runs of their own from next to end
		for ; next < end && !gone; next++ {
			if indexes == nil || indexes.Has(next) {
				put(batch.RunID(b.ID, next))
			}
		}
	}
	has, err := s.store.HasCachedRuns(ctx, b.ID)
	if err == nil && has {
		err = s.store.EachCachedRun(ctx, b.ID, func(i int, id string) bool {
			upTo(i)
			if !gone {
				put(id)
				next = i + 1
			}
			return !gone
		})
	}
	if err != nil {
		// The head is written: the answer can only be cut short.
		s.log.ErrorContext(ctx, "run ids of a batch", "batch", b.ID, "error", err)
		return false
	}
	upTo(b.RunCount)
	if gone {
		return false
	}
	buf.WriteString("]}")
	_, err = w.Write(buf.Bytes())
	return err == nil
}

// tdListKeyRuns answers runs.list({idempotencyKey}) (with the other
// filters, and filter[batch] when batchID is not ""): the runs the key
// names in the environment, one page (a key names one run per task).
func (s *Server) tdListKeyRuns(c *gin.Context, env store.Environment, key, batchID string, filter store.RunFilter, size int) {
	ctx := c.Request.Context()
	runs, err := s.store.IdempotencyKeyRuns(ctx, env.ID, key)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	var inBatch map[string]bool // the runs the batch's CACHED rows name
	if batchID != "" {
		if !batch.ValidBatchID(batchID) {
			fail(c, http.StatusNotFound, "Batch "+truncate(batchID, 64)+" not found")
			return
		}
		if _, err := s.store.GetBatch(ctx, env.ID, batchID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				fail(c, http.StatusNotFound, "Batch "+batchID+" not found")
			} else {
				s.failInternal(c, err, true)
			}
			return
		}
		inBatch = map[string]bool{}
		has, err := s.store.HasCachedRuns(ctx, batchID)
		if err == nil && has {
			err = s.store.EachCachedRun(ctx, batchID, func(_ int, id string) bool { inBatch[id] = true; return true })
		}
		if err != nil {
			s.failInternal(c, err, true)
			return
		}
	}
	page := streamJSON(c, `{"data":[`, s.pageBudget())
	tenv := wire.TriggerDevEnv{ID: strconv.FormatInt(env.ID, 10), Name: env.Name}
	n := 0
	for k := range runs {
		r := &runs[k]
		if bid, _, _ := batch.ParseRunID(r.ID); batchID != "" && bid != batchID && !inBatch[r.ID] {
			continue
		}
		if !filter.Admits(r) {
			continue
		}
		if n == size || !page.add(wire.TriggerDevListedRun{TriggerDevRun: newTDRun(*r), Env: tenv}) {
			break
		}
		n++
	}
	if page.err != nil {
		return // the client left
	}
	_ = page.end(`],"pagination":{}}`)
}
