package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
)

// Batch is a batch row with its environment's name.
type Batch struct {
	ID             string
	EnvironmentID  int64
	EnvName        string
	RunCount       int
	Status         batch.Status
	Sealed         bool
	IdempotencyKey *string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	SealedAt       *time.Time
	AbortedAt      *time.Time
	AbortReason    *string
	CompletedAt    *time.Time
	// Replays counts replays of the batch's failed runs.
	Replays int
	// ParentRunID and ResumeParentOnCompletion come from Phase 1: the
	// workflow to signal when the batch ends.
	ParentRunID              *string
	ResumeParentOnCompletion bool
	ParentNotifiedAt         *time.Time
	// ParentRefused says why the parent workflow was not signalled (nil:
	// it was, or it was not yet tried, or none was asked for).
	ParentRefused *string
	// AcceptedAt is when every index was known durably accepted while the
	// batch was still PENDING (Phase 2 answered sealed:true before Seal
	// ran, no worker being up).
	AcceptedAt *time.Time
}

// Done reports whether the batch accepts no more items: it was sealed, or
// every item is durably accepted (Phase 2 then answers sealed:true without
// reading the body).
func (b *Batch) Done() bool {
	return b.Sealed || (b.AcceptedAt != nil && b.Status == batch.StatusPending)
}

// ParentWorkflow returns the workflow id to signal when the batch ends, or
// "" when none was asked for.
func (b *Batch) ParentWorkflow() string {
	if !b.ResumeParentOnCompletion || b.ParentRunID == nil {
		return ""
	}
	return *b.ParentRunID
}

// NewBatch holds the Phase 1 request fields stored with a batch.
type NewBatch struct {
	ID                       string
	Env                      Environment
	RunCount                 int
	IdempotencyKey           *string
	IdempotencyKeyOptions    json.RawMessage
	TaskIdentifiers          []string
	ParentRunID              *string
	ResumeParentOnCompletion bool
}

// CreateBatchTx inserts a PENDING batch inside a transaction and calls
// started before committing, so the batch row exists exactly when started
// (which starts its workflow) succeeded. When the environment already has a
// batch with the same idempotency key, nothing is inserted, started is not
// called and the existing batch is returned with cached = true.
func (s *Store) CreateBatchTx(ctx context.Context, nb NewBatch, started func(Batch) error) (b Batch, cached bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var created time.Time
		var opts any
		if len(nb.IdempotencyKeyOptions) > 0 {
			opts = string(nb.IdempotencyKeyOptions)
		}
		err := tx.QueryRow(ctx, s.q.get("insert_batch"), nb.ID, nb.Env.ID, nb.RunCount, nb.IdempotencyKey,
			opts, nb.TaskIdentifiers, nb.ParentRunID, nb.ResumeParentOnCompletion).Scan(&created)
		if errors.Is(err, pgx.ErrNoRows) {
			existing, err := scanBatch(tx.QueryRow(ctx, s.q.get("get_batch_by_idempotency_key"), nb.Env.ID, *nb.IdempotencyKey))
			if err != nil {
				return err
			}
			b, cached = existing, true
			return nil
		}
		if err != nil {
			return err
		}
		b = Batch{ID: nb.ID, EnvironmentID: nb.Env.ID, EnvName: nb.Env.Name, RunCount: nb.RunCount,
			Status: batch.StatusPending, IdempotencyKey: nb.IdempotencyKey, CreatedAt: created, UpdatedAt: created}
		return started(b)
	})
	if err != nil {
		return Batch{}, false, fmt.Errorf("store: create batch: %w", err)
	}
	return b, cached, nil
}

// GetBatch returns a batch of environment envID. A batch of another
// environment is ErrNotFound, exactly like a missing one.
func (s *Store) GetBatch(ctx context.Context, envID int64, id string) (Batch, error) {
	b, err := s.GetBatchAnyEnv(ctx, id)
	if err == nil && b.EnvironmentID != envID {
		return Batch{}, ErrNotFound
	}
	return b, err
}

// GetBatchAnyEnv returns a batch whatever its environment; for internal
// callers (activities) only.
func (s *Store) GetBatchAnyEnv(ctx context.Context, id string) (Batch, error) {
	b, err := scanBatch(s.pool.QueryRow(ctx, s.q.get("get_batch"), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Batch{}, ErrNotFound
	}
	if err != nil {
		return Batch{}, fmt.Errorf("store: get batch %s: %w", id, err)
	}
	return b, nil
}

func scanBatch(row pgx.Row) (Batch, error) {
	var b Batch
	var status string
	err := row.Scan(&b.ID, &b.EnvironmentID, &b.EnvName, &b.RunCount, &status, &b.Sealed, &b.IdempotencyKey,
		&b.CreatedAt, &b.UpdatedAt, &b.SealedAt, &b.AbortedAt, &b.AbortReason,
		&b.CompletedAt, &b.Replays, &b.ParentRunID, &b.ResumeParentOnCompletion, &b.ParentNotifiedAt, &b.AcceptedAt, &b.ParentRefused)
	b.Status = batch.Status(status)
	return b, err
}

// SealBatch seals a batch: PENDING → PROCESSING with sealed = true, only
// when it has exactly runCount runs. Sealing a sealed batch returns it
// unchanged (idempotent). An aborted batch gives ErrNotPending, a batch with
// missing runs ErrIncomplete (wrapped with the counts).
func (s *Store) SealBatch(ctx context.Context, id string) (Batch, error) {
	var sealedAt time.Time
	err := s.pool.QueryRow(ctx, s.q.get("seal_batch"), id).Scan(&sealedAt)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Batch{}, fmt.Errorf("store: seal %s: %w", id, err)
	}
	b, gerr := s.GetBatchAnyEnv(ctx, id)
	if gerr != nil {
		return Batch{}, gerr
	}
	switch {
	case b.Done():
		return b, nil
	case b.Status == batch.StatusAborted:
		return b, fmt.Errorf("store: seal %s: %w", id, ErrNotPending)
	}
	total, _, cerr := s.CountRuns(ctx, id)
	if cerr != nil {
		return b, cerr
	}
	return b, fmt.Errorf("store: seal %s: %w: %d of %d runs exist", id, ErrIncomplete, total, b.RunCount)
}

// AbortBatch marks a PENDING batch ABORTED and its open runs CANCELED, in
// one transaction that first takes the batch's advisory lock exclusively,
// so it waits for run inserts in flight (they hold it shared) and later
// inserts see the batch ABORTED. It returns the batch as it is afterwards.
// Aborting an aborted batch cancels what is still open; a sealed batch
// gives ErrNotPending unless sealedToo, which aborts a PROCESSING batch as
// well (its executing runs are cancelled).
func (s *Store) AbortBatch(ctx context.Context, id, reason string, sealedToo bool) (Batch, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.q.get("lock_batch_exclusive"), id); err != nil {
			return err
		}
		var at time.Time
		err := tx.QueryRow(ctx, s.q.get("abort_batch"), id, reason, sealedToo).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			var status string
			if err := tx.QueryRow(ctx, s.q.get("batch_status"), id).Scan(&status); err != nil || status != string(batch.StatusAborted) {
				return nil // not pending: reported below from the row
			}
		} else if err != nil {
			return err
		}
		// Every insert that held the lock has committed: a new statement
		// sees their runs.
		_, err = tx.Exec(ctx, s.q.get("cancel_open_runs"), id, "batch aborted: "+reason)
		return err
	})
	if err != nil {
		return Batch{}, fmt.Errorf("store: abort %s: %w", id, err)
	}
	b, err := s.GetBatchAnyEnv(ctx, id)
	if err != nil {
		return Batch{}, err
	}
	if b.Status != batch.StatusAborted {
		return b, fmt.Errorf("store: abort %s: %w (status %s)", id, ErrNotPending, b.Status)
	}
	return b, nil
}

// BeginStream records the start of a Phase 2 request and returns how many
// have started for the batch, this one included: 1 means no earlier request
// can have delivered anything.
func (s *Store) BeginStream(ctx context.Context, id string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, s.q.get("begin_stream"), id).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: begin stream of %s: %w", id, err)
	}
	return n, nil
}

// CountBatchesByState returns how many batches are in each state.
func (s *Store) CountBatchesByState(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, s.q.get("count_batches_by_state"))
	if err != nil {
		return nil, fmt.Errorf("store: count batches: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		out[state] = n
	}
	return out, rows.Err()
}

// MarkAccepted records that every index of a PENDING batch is durably
// accepted (see Batch.AcceptedAt).
func (s *Store) MarkAccepted(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, s.q.get("mark_accepted"), id); err != nil {
		return fmt.Errorf("store: mark %s accepted: %w", id, err)
	}
	return nil
}
