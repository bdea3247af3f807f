package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store/internal/db"
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
	// RunsHere: the batch's BatchIngest executes its runs (a small batch
	// sealed by SealBatchRunningHere); a replay, which runs in BatchRuns,
	// clears it.
	RunsHere bool
	// SealDeadline is when the batch must be sealed (nil for batches
	// created before migration 00022, whose workflow the create started).
	SealDeadline *time.Time
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
	// SealTimeout sets the batch's SealDeadline: its creation plus this.
	SealTimeout time.Duration
	// Token, when set, is the public token creating the batch: recorded,
	// so that it may stream the batch's items; the creation fails with
	// ErrTokenUsed when the token is one-time-use and was used before.
	Token *PublicToken
}

// PublicToken identifies a public token that creates batches.
type PublicToken struct {
	Hash      []byte // SHA-256 of the token
	OneTime   bool
	ExpiresAt time.Time
}

// CreateBatchTx inserts a PENDING batch inside a transaction and calls
// started (unless nil) before committing, so the batch row exists exactly
// when started succeeded. When the environment already has a
// batch with the same idempotency key, nothing is inserted, started is not
// called and the existing batch is returned with cached = true. The
// creating public token is recorded in the same transaction, before
// anything else: a one-time token's second use is ErrTokenUsed, and
// exactly one of concurrent uses succeeds.
func (s *Store) CreateBatchTx(ctx context.Context, nb NewBatch, started func(Batch) error) (b Batch, cached bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if t := nb.Token; t != nil {
			n, err := q.RecordTokenBatch(ctx, db.RecordTokenBatchParams{TokenHash: t.Hash, BatchID: nb.ID, EnvironmentID: nb.Env.ID,
				OneTime: t.OneTime, ExpiresAt: t.ExpiresAt})
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrTokenUsed
			}
		}
		var opts []byte
		if len(nb.IdempotencyKeyOptions) > 0 {
			opts = nb.IdempotencyKeyOptions
		}
		created, err := q.InsertBatch(ctx, db.InsertBatchParams{
			ID: nb.ID, EnvironmentID: nb.Env.ID, RunCount: int32(nb.RunCount), IdempotencyKey: nb.IdempotencyKey,
			IdempotencyKeyOptions: opts, TaskIdentifiers: nb.TaskIdentifiers, ParentRunID: nb.ParentRunID,
			ResumeParentOnCompletion: nb.ResumeParentOnCompletion, SealTimeoutSecs: nb.SealTimeout.Seconds(),
		})
		if errors.Is(err, pgx.ErrNoRows) {
			existing, err := q.GetBatchByIdempotencyKey(ctx, db.GetBatchByIdempotencyKeyParams{EnvironmentID: nb.Env.ID, IdempotencyKey: *nb.IdempotencyKey})
			if err != nil {
				return err
			}
			b, cached = batchFromRow(db.GetBatchRow(existing)), true
			return nil
		}
		if err != nil {
			return err
		}
		b = Batch{ID: nb.ID, EnvironmentID: nb.Env.ID, EnvName: nb.Env.Name, RunCount: nb.RunCount,
			Status: batch.StatusPending, IdempotencyKey: nb.IdempotencyKey, CreatedAt: created.CreatedAt, UpdatedAt: created.CreatedAt,
			SealDeadline: created.SealDeadline}
		if started == nil {
			return nil
		}
		return started(b)
	})
	if err != nil {
		return Batch{}, false, fmt.Errorf("store: create batch: %w", err)
	}
	return b, cached, nil
}

// TokenBatchTasks returns the task identifiers of batch batchID of
// environment envID, which the public token of hash created; ErrNotFound
// when that token did not create it.
func (s *Store) TokenBatchTasks(ctx context.Context, envID int64, batchID string, hash []byte) ([]string, error) {
	tasks, err := s.q.TokenBatchTasks(ctx, db.TokenBatchTasksParams{TokenHash: hash, BatchID: batchID, EnvironmentID: envID})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: token batch %s: %w", batchID, err)
	}
	return tasks, nil
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
	row, err := s.q.GetBatch(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Batch{}, ErrNotFound
	}
	if err != nil {
		return Batch{}, fmt.Errorf("store: get batch %s: %w", id, err)
	}
	return batchFromRow(row), nil
}

func batchFromRow(r db.GetBatchRow) Batch {
	return Batch{
		ID: r.ID, EnvironmentID: r.EnvironmentID, EnvName: r.EnvName, RunCount: int(r.RunCount), Status: r.Status,
		Sealed: r.Sealed, IdempotencyKey: r.IdempotencyKey, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		SealedAt: r.SealedAt, AbortedAt: r.AbortedAt, AbortReason: r.AbortReason, CompletedAt: r.CompletedAt,
		Replays: int(r.Replays), ParentRunID: r.ParentRunID, ResumeParentOnCompletion: r.ResumeParentOnCompletion,
		ParentNotifiedAt: r.ParentNotifiedAt, AcceptedAt: r.AcceptedAt, ParentRefused: r.ParentRefused, RunsHere: r.RunsHere,
		SealDeadline: r.SealDeadline,
	}
}

// BeginStream records the start of a Phase 2 request and returns how many
// have started for the batch, this one included: 1 means no earlier request
// can have delivered anything.
func (s *Store) BeginStream(ctx context.Context, id string) (int, error) {
	n, err := s.q.BeginStream(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("store: begin stream of %s: %w", id, err)
	}
	return int(n), nil
}

// CountBatchesByState returns how many batches are in each state.
func (s *Store) CountBatchesByState(ctx context.Context) (map[string]int, error) {
	rows, err := s.q.CountBatchesByState(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: count batches: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[string(r.Status)] = int(r.N)
	}
	return out, nil
}

// MarkAccepted records that every index of a PENDING batch is durably
// accepted (see Batch.AcceptedAt).
func (s *Store) MarkAccepted(ctx context.Context, id string) error {
	if err := s.q.MarkAccepted(ctx, id); err != nil {
		return fmt.Errorf("store: mark %s accepted: %w", id, err)
	}
	return nil
}

// MarkParentNotified records that the batch's parent workflow was told it
// ended; it reports false when that was already recorded.
func (s *Store) MarkParentNotified(ctx context.Context, id string) (bool, error) {
	n, err := s.q.MarkParentNotified(ctx, id)
	if err != nil {
		return false, fmt.Errorf("store: mark parent of %s notified: %w", id, err)
	}
	return n == 1, nil
}

// MarkParentRefused records why the batch's parent workflow was not
// signalled.
func (s *Store) MarkParentRefused(ctx context.Context, id, reason string) error {
	if err := s.q.MarkParentRefused(ctx, db.MarkParentRefusedParams{ID: id, Reason: &reason}); err != nil {
		return fmt.Errorf("store: mark parent of %s refused: %w", id, err)
	}
	return nil
}
