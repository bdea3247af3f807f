package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streambatch/streambatch/batch"
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
	if _, err = tx.Exec(ctx, s.q.get("lock_batch_shared"), batchID); err != nil {
		tx.Rollback(ctx)
		return nil, 0, time.Time{}, false, err
	}
	// A new statement: its snapshot is taken after the lock was granted.
	err = tx.QueryRow(ctx, s.q.get("pending_batch"), batchID).Scan(&envID, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return tx, 0, time.Time{}, false, nil
	}
	if err != nil {
		tx.Rollback(ctx)
		return nil, 0, time.Time{}, false, err
	}
	return tx, envID, created, true, nil
}

// runColumns are the columns copyRuns fills.
var runColumns = []string{"batch_id", "batch_index", "environment_id", "task", "payload", "payload_type", "options",
	"status", "error_code", "error_message", "queue_timestamp", "delay_until"}

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
	now := time.Now()
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"runs"}, runColumns, pgx.CopyFromSlice(len(items), func(k int) ([]any, error) {
		it := &items[k]
		var opts any
		if len(it.Options) > 0 {
			opts = string(it.Options)
		}
		status, delayUntil := initialState(it, created, now)
		code, msg := any(nil), any(nil)
		if it.ErrorCode != "" {
			code, msg = it.ErrorCode, it.ErrorMessage
		}
		return []any{batchID, int32(it.Index), envID, it.Task, it.Payload, it.PayloadType, opts, string(status), code, msg,
			created.Add(time.Duration(it.Index) * time.Millisecond), delayUntil}, nil
	}))
	if err != nil {
		return 0, err
	}
	if err := s.countInserted(ctx, tx, batchID, n); err != nil {
		return 0, fmt.Errorf("store: copy runs of %s: %w", batchID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("store: copy runs of %s: %w", batchID, err)
	}
	return int(n), nil
}

// countInserted adds n runs to the batch's runs_inserted in tx, which the
// seal reads instead of counting the batch's runs.
func (s *Store) countInserted(ctx context.Context, tx pgx.Tx, batchID string, n int64) error {
	if n == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, s.q.get("add_runs_inserted"), batchID, n)
	return err
}

// insertRunsSkippingDuplicates inserts in one round trip, skipping indexes
// that already have a run.
func (s *Store) insertRunsSkippingDuplicates(ctx context.Context, batchID string, items []batch.Item) (int, error) {
	n := len(items)
	idx := make([]int32, n)
	task := make([]string, n)
	payload := make([]*string, n)
	ptype := make([]string, n)
	opts := make([]*string, n)
	ecode := make([]*string, n)
	emsg := make([]*string, n)
	status := make([]string, n)
	delay := make([]*time.Time, n)
	tx, _, created, pending, err := s.lockedPending(ctx, batchID)
	if err != nil {
		return 0, fmt.Errorf("store: insert runs of %s: %w", batchID, err)
	}
	defer tx.Rollback(ctx)
	if !pending {
		return 0, nil
	}
	now := time.Now()
	for k := range items {
		it := &items[k]
		idx[k] = int32(it.Index)
		task[k] = it.Task
		payload[k] = it.Payload
		ptype[k] = it.PayloadType
		if len(it.Options) > 0 {
			o := string(it.Options)
			opts[k] = &o
		}
		if it.ErrorCode != "" {
			ecode[k], emsg[k] = &it.ErrorCode, &it.ErrorMessage
		}
		st, at := initialState(it, created, now)
		status[k], delay[k] = string(st), at
	}
	tag, err := tx.Exec(ctx, s.q.get("insert_runs"), batchID, idx, task, payload, ptype, opts, ecode, emsg, status, delay)
	if err != nil {
		return 0, fmt.Errorf("store: insert %d runs of %s: %w", n, batchID, err)
	}
	if err := s.countInserted(ctx, tx, batchID, tag.RowsAffected()); err != nil {
		return 0, fmt.Errorf("store: insert %d runs of %s: %w", n, batchID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("store: insert %d runs of %s: %w", n, batchID, err)
	}
	return int(tag.RowsAffected()), nil
}

// CountRuns returns how many runs a batch has, and how many of them FAILED.
func (s *Store) CountRuns(ctx context.Context, batchID string) (total, failed int, err error) {
	err = s.pool.QueryRow(ctx, s.q.get("count_runs"), batchID).Scan(&total, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("store: count runs of %s: %w", batchID, err)
	}
	return total, failed, nil
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
}

func scanRun(row pgx.Row) (Run, error) {
	var r Run
	var status string
	var opts []byte
	err := row.Scan(&r.ID, &r.Index, &r.Task, &status, &r.PayloadType, &r.Payload, &opts,
		&r.ErrorCode, &r.ErrorMessage, &r.QueueTimestamp, &r.CreatedAt,
		&r.Output, &r.OutputType, &r.Attempts, &r.StartedAt, &r.CompletedAt, &r.DelayUntil)
	r.Status = batch.RunStatus(status)
	if opts != nil {
		r.Options = json.RawMessage(opts)
	}
	return r, err
}

// GetRun returns the run at index of a batch, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, batchID string, index int) (Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, s.q.get("get_run"), batchID, index))
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, ErrNotFound
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: get run %d of %s: %w", index, batchID, err)
	}
	return r, nil
}

// ListRuns returns up to limit runs of a batch with index > after, ordered
// by index (after = -1 starts at the beginning).
func (s *Store) ListRuns(ctx context.Context, batchID string, after, limit int) ([]Run, error) {
	rows, err := s.pool.Query(ctx, s.q.get("list_runs"), batchID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list runs of %s: %w", batchID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	return out, nil
}

// EachRun calls fn with the runs of a batch with index > after, in index
// order, as PostgreSQL sends them: at most limit, and no more than fit in
// maxBytes of stored payload, output, options and error message (the first
// run always comes, whatever its size). Only one run is held at a time; fn
// returns false to stop early. more reports whether runs remain after the
// last one fn was given (true also when fn stopped).
func (s *Store) EachRun(ctx context.Context, batchID string, after, limit, maxBytes int, fn func(*Run) bool) (more bool, err error) {
	rows, err := s.pool.Query(ctx, s.q.get("each_run"), batchID, after, limit, maxBytes)
	if err != nil {
		return false, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Run
		var status string
		var opts []byte
		if err := rows.Scan(&r.ID, &r.Index, &r.Task, &status, &r.PayloadType, &r.Payload, &opts,
			&r.ErrorCode, &r.ErrorMessage, &r.QueueTimestamp, &r.CreatedAt,
			&r.Output, &r.OutputType, &r.Attempts, &r.StartedAt, &r.CompletedAt, &r.DelayUntil, &more); err != nil {
			return false, fmt.Errorf("store: list runs of %s: %w", batchID, err)
		}
		r.Status = batch.RunStatus(status)
		if opts != nil {
			r.Options = json.RawMessage(opts)
		}
		if !fn(&r) {
			// The rest of the page (within maxBytes) is read and dropped.
			rows.Close()
			return true, rows.Err()
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("store: list runs of %s: %w", batchID, err)
	}
	return more, nil
}

// RunIndexes returns the set of indexes of a batch that have a run.
func (s *Store) RunIndexes(ctx context.Context, batchID string, runCount int) (*batch.IndexSet, error) {
	rows, err := s.pool.Query(ctx, s.q.get("run_indexes"), batchID)
	if err != nil {
		return nil, fmt.Errorf("store: run indexes of %s: %w", batchID, err)
	}
	defer rows.Close()
	set := batch.NewIndexSet(runCount)
	var i int
	for rows.Next() {
		if err := rows.Scan(&i); err != nil {
			return nil, err
		}
		set.Add(i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: run indexes of %s: %w", batchID, err)
	}
	return set, nil
}
