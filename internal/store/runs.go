package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// InsertRuns creates one run per item. Items whose index already has a run
// are skipped, so a retried chunk is harmless; nothing is inserted when the
// batch is not PENDING. It returns how many rows were inserted.
//
// The usual case (no run exists yet) takes the fast path: COPY. When an
// index already has a run (a retried chunk), the COPY fails as a whole and
// the chunk goes through one INSERT … ON CONFLICT DO NOTHING instead (about
// half COPY's speed; see BenchmarkInsertPath). Both run in a transaction
// that holds the batch's advisory lock in shared mode, against AbortBatch.
func (s *Store) InsertRuns(ctx context.Context, batchID string, items []batch.Item) (int, error) {
	n, err := s.copyRuns(ctx, batchID, items)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		n, err = s.insertRunsSkippingDuplicates(ctx, batchID, items)
	}
	return n, classify(err)
}

// lockedPending begins a transaction holding the batch's shared advisory
// lock and reports whether the batch is PENDING (with its environment and
// creation time). The caller must end the transaction.
func (s *Store) lockedPending(ctx context.Context, batchID string) (tx pgx.Tx, envID int64, created time.Time, pending bool, err error) {
	if tx, err = s.pool.Begin(ctx); err != nil {
		return nil, 0, time.Time{}, false, err
	}
	q := s.q.WithTx(tx)
	if err = q.LockBatchShared(ctx, batchID); err != nil {
		tx.Rollback(ctx)
		return nil, 0, time.Time{}, false, err
	}
	// A new statement: its snapshot is taken after the lock was granted.
	row, err := q.PendingBatch(ctx, batchID)
	if errors.Is(err, pgx.ErrNoRows) {
		return tx, 0, time.Time{}, false, nil
	}
	if err != nil {
		tx.Rollback(ctx)
		return nil, 0, time.Time{}, false, err
	}
	return tx, row.EnvironmentID, row.CreatedAt, true, nil
}

// initialState returns the status a new run starts in and, for a delayed
// run, when it may start. A pre-failed item is FAILED whatever its
// options; an item with a delay that has already passed is QUEUED at once.
func initialState(it *batch.Item, created, now time.Time) (batch.RunStatus, *time.Time) {
	if it.Failed() {
		return batch.RunFailed, nil
	}
	if !bytes.Contains(it.Options, []byte(`"delay"`)) {
		return batch.RunQueued, nil // no delay: the options need no reading
	}
	o := batch.StoredItemOptions(it.Options)
	at := o.StartAfter(created)
	if o.Refused != "" || at.IsZero() || !at.After(now) {
		return batch.RunQueued, nil // refused options are reported when the run is dispatched
	}
	return batch.RunDelayed, &at
}

func (s *Store) copyRuns(ctx context.Context, batchID string, items []batch.Item) (int, error) {
	tx, envID, created, pending, err := s.lockedPending(ctx, batchID)
	if err != nil {
		return 0, fmt.Errorf("store: copy runs of %s: %w", batchID, err)
	}
	defer tx.Rollback(ctx)
	if !pending {
		return 0, nil // nothing may be inserted
	}
	cached, err := s.resolveKeys(ctx, tx, envID, batchID, items)
	if err != nil {
		return 0, fmt.Errorf("store: copy runs of %s: %w", batchID, err)
	}
	now := time.Now()
	rows := copyRows.get(len(items))
	defer copyRows.put(rows)
	for k := range items {
		it := &items[k]
		var opts json.RawMessage
		if len(it.Options) > 0 {
			opts = it.Options
		}
		status, delayUntil := initialState(it, created, now)
		var code, msg *string
		if it.ErrorCode != "" {
			code, msg = &it.ErrorCode, &it.ErrorMessage
		}
		rows[k] = db.CopyRunsParams{BatchID: batchID, BatchIndex: int32(it.Index), EnvironmentID: envID, Task: it.Task,
			Payload: it.Payload, PayloadType: it.PayloadType, Options: opts, Status: status, ErrorCode: code, ErrorMessage: msg,
			QueueTimestamp: created.Add(time.Duration(it.Index) * time.Millisecond), DelayUntil: delayUntil}
		if cached != nil && cached[k] != nil {
			// The run it names holds the payload.
			rows[k].Status, rows[k].CachedRunID, rows[k].Payload, rows[k].DelayUntil = batch.RunCached, cached[k], nil, nil
		}
	}
	n, err := s.q.WithTx(tx).CopyRuns(ctx, rows)
	if err != nil {
		return 0, err
	}
	if err := s.countInserted(ctx, tx, batchID, n, countCached(cached)); err != nil {
		return 0, fmt.Errorf("store: copy runs of %s: %w", batchID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("store: copy runs of %s: %w", batchID, err)
	}
	return int(n), nil
}

// copyRows reuses the rows copyRuns hands to COPY (about 170 bytes a run,
// a chunk at a time).
var copyRows rowsPool[db.CopyRunsParams]

// rowsPool is a sync.Pool of slices of T.
type rowsPool[T any] struct{ p sync.Pool }

func (r *rowsPool[T]) get(n int) []T {
	if s, ok := r.p.Get().(*[]T); ok && cap(*s) >= n {
		return (*s)[:n]
	}
	return make([]T, n)
}

// put returns s to the pool, cleared: it keeps no item alive.
func (r *rowsPool[T]) put(s []T) {
	clear(s)
	r.p.Put(&s)
}

// countInserted adds n runs to the batch's runs_inserted in tx, which the
// seal reads instead of counting the batch's runs, and cached to its
// runs_cached (an upper bound: reads look for CACHED runs only when it is
// not 0).
func (s *Store) countInserted(ctx context.Context, tx pgx.Tx, batchID string, n int64, cached int) error {
	if n == 0 {
		return nil
	}
	return s.q.WithTx(tx).AddRunsInserted(ctx, db.AddRunsInsertedParams{ID: batchID, N: int32(n), Cached: int32(cached)})
}

// insertRunsSkippingDuplicates inserts in one round trip, skipping indexes
// that already have a run.
func (s *Store) insertRunsSkippingDuplicates(ctx context.Context, batchID string, items []batch.Item) (int, error) {
	n := len(items)
	p := db.InsertRunsParams{BatchID: batchID, Idx: make([]int32, n), Task: make([]string, n), Payload: make([]*string, n),
		PayloadType: make([]string, n), Options: make([]*string, n), ErrorCode: make([]*string, n),
		ErrorMessage: make([]*string, n), Status: make([]string, n), Delayed: make([]bool, n), DelayUntil: make([]time.Time, n),
		CachedRunID: make([]*string, n)}
	tx, envID, created, pending, err := s.lockedPending(ctx, batchID)
	if err != nil {
		return 0, fmt.Errorf("store: insert runs of %s: %w", batchID, err)
	}
	defer tx.Rollback(ctx)
	if !pending {
		return 0, nil
	}
	cached, err := s.resolveKeys(ctx, tx, envID, batchID, items)
	if err != nil {
		return 0, fmt.Errorf("store: insert runs of %s: %w", batchID, err)
	}
	now := time.Now()
	for k := range items {
		it := &items[k]
		p.Idx[k] = int32(it.Index)
		p.Task[k] = it.Task
		p.Payload[k] = it.Payload
		p.PayloadType[k] = it.PayloadType
		if len(it.Options) > 0 {
			o := string(it.Options)
			p.Options[k] = &o
		}
		if it.ErrorCode != "" {
			p.ErrorCode[k], p.ErrorMessage[k] = &it.ErrorCode, &it.ErrorMessage
		}
		st, at := initialState(it, created, now)
		p.Status[k] = string(st)
		if at != nil {
			p.Delayed[k], p.DelayUntil[k] = true, *at
		}
		if cached != nil && cached[k] != nil {
			// The run it names holds the payload.
			p.Status[k], p.CachedRunID[k], p.Payload[k], p.Delayed[k] = string(batch.RunCached), cached[k], nil, false
		}
	}
	inserted, err := s.q.WithTx(tx).InsertRuns(ctx, p)
	if err != nil {
		return 0, fmt.Errorf("store: insert %d runs of %s: %w", n, batchID, err)
	}
	if err := s.countInserted(ctx, tx, batchID, inserted, countCached(cached)); err != nil {
		return 0, fmt.Errorf("store: insert %d runs of %s: %w", n, batchID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("store: insert %d runs of %s: %w", n, batchID, err)
	}
	return int(inserted), nil
}

// CountRuns returns how many runs a batch has, and how many of them FAILED.
func (s *Store) CountRuns(ctx context.Context, batchID string) (total, failed int, err error) {
	row, err := s.q.CountRuns(ctx, batchID)
	if err != nil {
		return 0, 0, fmt.Errorf("store: count runs of %s: %w", batchID, err)
	}
	return int(row.Total), int(row.Failed), nil
}

// Run is a run row.
type Run struct {
	ID             string
	Index          int
	Task           string
	Status         batch.RunStatus
	PayloadType    string
	Payload        *string
	Options        json.RawMessage
	ErrorCode      *string
	ErrorMessage   *string
	QueueTimestamp time.Time
	CreatedAt      time.Time
	// Output is the task's result (JSON text, or an object key when
	// OutputType is application/store).
	Output      *string
	OutputType  *string
	Attempts    int
	StartedAt   *time.Time
	CompletedAt *time.Time
	DelayUntil  *time.Time
	// CachedRunID is the id of the run a CACHED row names (an item whose
	// idempotency key named another item's run); "" for other runs.
	CachedRunID string
	// RowID and RowIndex are set by a reader that shows this run in the
	// place of a CACHED row: the row's id and index (where a page of the
	// row's batch continues). The store leaves them zero.
	RowID    string
	RowIndex int
}

func runFromRow(r db.GetRunRow) Run {
	return Run{ID: r.ID, Index: int(r.BatchIndex), Task: r.Task, Status: r.Status, PayloadType: r.PayloadType,
		Payload: r.Payload, Options: r.Options, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage,
		QueueTimestamp: r.QueueTimestamp, CreatedAt: r.CreatedAt, Output: r.Output, OutputType: r.OutputType,
		Attempts: int(r.Attempts), StartedAt: r.StartedAt, CompletedAt: r.CompletedAt, DelayUntil: r.DelayUntil,
		CachedRunID: deref(r.CachedRunID)}
}

// GetRun returns the run at index of a batch, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, batchID string, index int) (Run, error) {
	row, err := s.q.GetRun(ctx, db.GetRunParams{BatchID: batchID, BatchIndex: int32(index)})
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, ErrNotFound
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: get run %d of %s: %w", index, batchID, err)
	}
	return runFromRow(row), nil
}

// ListRuns returns up to limit runs of a batch with index > after, ordered
// by index (after = -1 starts at the beginning).
func (s *Store) ListRuns(ctx context.Context, batchID string, after, limit int) ([]Run, error) {
	rows, err := s.q.ListRuns(ctx, db.ListRunsParams{BatchID: batchID, After: int32(after), MaxRuns: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	var out []Run
	for _, r := range rows {
		out = append(out, runFromRow(db.GetRunRow(r)))
	}
	return out, nil
}

// RunFilter narrows the runs EachRun lists. A nil field admits any value;
// an empty non-nil one admits none.
type RunFilter struct {
	// Statuses are the run statuses listed.
	Statuses []batch.RunStatus
	// Tasks are the task names listed.
	Tasks []string
	// Tags admit the runs that carry any of them.
	Tags []string
	// CreatedFrom and CreatedTo, when set, bound the runs' creation time
	// (both inclusive).
	CreatedFrom, CreatedTo *time.Time
}

// Admits reports whether r passes the filter.
func (f RunFilter) Admits(r *Run) bool {
	switch {
	case f.Statuses != nil && !slices.Contains(f.Statuses, r.Status),
		f.Tasks != nil && !slices.Contains(f.Tasks, r.Task),
		f.CreatedFrom != nil && r.CreatedAt.Before(*f.CreatedFrom),
		f.CreatedTo != nil && r.CreatedAt.After(*f.CreatedTo):
		return false
	case f.Tags != nil:
		return slices.ContainsFunc(batch.StoredItemOptions(r.Options).Tags, func(t string) bool { return slices.Contains(f.Tags, t) })
	}
	return true
}

// EachRun calls fn with the runs of a batch with index > after that pass
// filter, in index order, as PostgreSQL sends them: at most limit, and no
// more than fit in maxBytes of stored payload, output, options and error
// message (the first run always comes, whatever its size). Only one run is held at a time; fn
// returns false to stop early. more reports whether runs remain after the
// last one fn was given (true also when fn stopped).
//
// It reads the rows of db.EachRun one at a time, as the generated method
// (which collects the page) cannot.
func (s *Store) EachRun(ctx context.Context, batchID string, filter RunFilter, after, limit, maxBytes int, fn func(*Run) bool) (more bool, err error) {
	var statuses []string
	if filter.Statuses != nil {
		statuses = make([]string, len(filter.Statuses))
		for i, st := range filter.Statuses {
			statuses[i] = string(st)
		}
	}
	rows, err := s.pool.Query(ctx, db.EachRun, batchID, after, statuses, filter.Tasks, filter.Tags, filter.CreatedFrom, filter.CreatedTo, limit, maxBytes)
	if err != nil {
		return false, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	more, err = eachRunRow(rows, fn)
	if err != nil {
		return false, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	return more, nil
}

// Creation times before and after every run's: the bounds EachEnvRun
// passes where the caller gives none.
var (
	firstTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	lastTime  = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// EachEnvRun calls fn with the runs of environment envID that pass filter,
// newest first (by creation time, then batch id and index, descending),
// after the run with id after ("" for the newest) — as EachRun does within a
// batch: at most limit, within maxBytes, fn returns false to stop early.
// It returns ErrNotFound when after is not a run of the environment.
func (s *Store) EachEnvRun(ctx context.Context, envID int64, filter RunFilter, after string, limit, maxBytes int, fn func(*Run) bool) (more bool, err error) {
	cur := envCursor{created: lastTime}
	if after != "" {
		var err error
		if cur, err = s.envCursorOf(ctx, envID, after); err != nil {
			return false, err
		}
	}
	from, to := filter.createdRange()
	rows, err := s.pool.Query(ctx, db.EachEnvRun, envID, cur.created, cur.batchID, cur.index,
		from, to, statusNames(filter.Statuses), filter.Tasks, filter.Tags, int32(limit), int64(maxBytes))
	if err != nil {
		return false, fmt.Errorf("store: list runs of environment %d: %w", envID, err)
	}
	more, err = eachRunRow(rows, fn)
	if err != nil {
		return false, fmt.Errorf("store: list runs of environment %d: %w", envID, err)
	}
	return more, nil
}

// EachRunBefore gives, as EachRun does, the page of runs of a batch that
// come just before index before (the runs of indexes below it nearest to
// it: at most limit, within maxBytes), in index order. more reports whether
// runs pass filter before the first run of the page. The page is held in
// memory (at most limit runs) to be given in index order.
func (s *Store) EachRunBefore(ctx context.Context, batchID string, filter RunFilter, before, limit, maxBytes int, fn func(*Run) bool) (more bool, err error) {
	rows, err := s.pool.Query(ctx, db.EachRunBefore, batchID, before, statusNames(filter.Statuses), filter.Tasks, filter.Tags,
		filter.CreatedFrom, filter.CreatedTo, limit, maxBytes)
	if err != nil {
		return false, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	more, err = eachRunReversed(rows, fn)
	if err != nil {
		return false, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	return more, nil
}

// EachEnvRunBefore gives, as EachEnvRun does, the page of an environment's
// runs that come just before the run with id before in EachEnvRun's order
// (the runs newer than it nearest to it: at most limit, within maxBytes),
// newest first. more reports whether runs pass filter before the first run
// of the page. It returns ErrNotFound when before is not a run of the
// environment.
func (s *Store) EachEnvRunBefore(ctx context.Context, envID int64, filter RunFilter, before string, limit, maxBytes int, fn func(*Run) bool) (more bool, err error) {
	cur, err := s.envCursorOf(ctx, envID, before)
	if err != nil {
		return false, err
	}
	from, to := filter.createdRange()
	rows, err := s.pool.Query(ctx, db.EachEnvRunBefore, envID, cur.created, cur.batchID, cur.index,
		from, to, statusNames(filter.Statuses), filter.Tasks, filter.Tags, int32(limit), int64(maxBytes))
	if err != nil {
		return false, fmt.Errorf("store: list runs of environment %d: %w", envID, err)
	}
	more, err = eachRunReversed(rows, fn)
	if err != nil {
		return false, fmt.Errorf("store: list runs of environment %d: %w", envID, err)
	}
	return more, nil
}

// envCursor is a run's place in an environment's list: its creation time,
// then its batch and index.
type envCursor struct {
	created time.Time
	batchID string
	index   int32
}

// envCursorOf returns the place of the run with id in its environment's
// list, or ErrNotFound when it is not a run of the environment.
func (s *Store) envCursorOf(ctx context.Context, envID int64, id string) (envCursor, error) {
	batchID, i, ok := batch.ParseRunID(id)
	if !ok {
		return envCursor{}, ErrNotFound
	}
	created, err := s.q.RunCreatedAt(ctx, db.RunCreatedAtParams{BatchID: batchID, BatchIndex: int32(i), EnvironmentID: envID})
	if errors.Is(err, pgx.ErrNoRows) {
		return envCursor{}, ErrNotFound
	}
	if err != nil {
		return envCursor{}, fmt.Errorf("store: run %s: %w", id, err)
	}
	return envCursor{created: created, batchID: batchID, index: int32(i)}, nil
}

// createdRange returns the filter's creation bounds, unbounded ends as the
// first and last representable times.
func (f RunFilter) createdRange() (from, to time.Time) {
	from, to = firstTime, lastTime
	if f.CreatedFrom != nil {
		from = *f.CreatedFrom
	}
	if f.CreatedTo != nil {
		to = *f.CreatedTo
	}
	return from, to
}

// statusNames returns the names of statuses (nil for nil).
func statusNames(statuses []batch.RunStatus) []string {
	if statuses == nil {
		return nil
	}
	out := make([]string, len(statuses))
	for i, st := range statuses {
		out[i] = string(st)
	}
	return out
}

// eachRunReversed reads a page of rows read away from its cursor and calls
// fn with its runs in the list's order (the last row first), until fn
// returns false; more is the page's.
func eachRunReversed(rows pgx.Rows, fn func(*Run) bool) (more bool, err error) {
	var page []Run
	more, err = eachRunRow(rows, func(r *Run) bool { page = append(page, *r); return true })
	if err != nil {
		return false, err
	}
	for i := len(page) - 1; i >= 0 && fn(&page[i]); i-- {
	}
	return more, nil
}

// eachRunRow calls fn with each row of an EachRun or EachEnvRun page, one
// at a time, and returns the page's more (true also when fn stopped).
func eachRunRow(rows pgx.Rows, fn func(*Run) bool) (more bool, err error) {
	defer rows.Close()
	for rows.Next() {
		var r Run
		var cached *string
		if err := rows.Scan(&r.ID, &r.Index, &r.Task, &r.Status, &r.PayloadType, &r.Payload, &r.Options,
			&r.ErrorCode, &r.ErrorMessage, &r.QueueTimestamp, &r.CreatedAt,
			&r.Output, &r.OutputType, &r.Attempts, &r.StartedAt, &r.CompletedAt, &r.DelayUntil, &cached, &more); err != nil {
			return false, err
		}
		r.CachedRunID = deref(cached)
		if !fn(&r) {
			// The rest of the page (within maxBytes) is read and dropped.
			rows.Close()
			return true, rows.Err()
		}
	}
	return more, rows.Err()
}

// RunIndexes returns the set of indexes of a batch that have a run.
func (s *Store) RunIndexes(ctx context.Context, batchID string, runCount int) (*batch.IndexSet, error) {
	indexes, err := s.q.RunIndexes(ctx, batchID)
	if err != nil {
		return nil, fmt.Errorf("store: run indexes of %s: %w", batchID, err)
	}
	set := batch.NewIndexSet(runCount)
	for _, i := range indexes {
		set.Add(int(i))
	}
	return set, nil
}
