package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// The batch lifecycle (batch.Status):
//
//	PENDING ──seal──▶ PROCESSING ──complete──▶ COMPLETED
//	   │                │     ▲                    │
//	   └──abort──┐ ┌────┘     └──────replay────────┘
//	             ▼ ▼ abort (sealedToo)
//	           ABORTED
//
// A batch is created PENDING (CreateBatchTx). Every other change of its
// status is one of the transitions below, and each statement that changes
// it (queries/batches.sql: SealBatch, AbortBatch, CompleteBatch,
// ReplayBatch) takes its from and to statuses from its transition: which
// status may change into which is written down here only (statements that
// only read a status, such as PendingBatch, name it).
type transition struct {
	name string
	from []batch.Status
	to   batch.Status
}

var (
	sealing     = transition{"seal", []batch.Status{batch.StatusPending}, batch.StatusProcessing}
	aborting    = transition{"abort", []batch.Status{batch.StatusPending}, batch.StatusAborted}
	abortingAny = transition{"abort sealed too", []batch.Status{batch.StatusPending, batch.StatusProcessing}, batch.StatusAborted}
	completing  = transition{"complete", []batch.Status{batch.StatusProcessing}, batch.StatusCompleted}
	replaying   = transition{"replay", []batch.Status{batch.StatusCompleted}, batch.StatusProcessing}
)

// lifecycle is every transition.
var lifecycle = []transition{sealing, aborting, abortingAny, completing, replaying}

// allowed reports whether a transition takes a batch from one status to
// another.
func allowed(from, to batch.Status) bool {
	for _, t := range lifecycle {
		if t.to == to && slices.Contains(t.from, from) {
			return true
		}
	}
	return false
}

// fromStatuses is the statement argument of t.from.
func (t transition) fromStatuses() []string {
	out := make([]string, len(t.from))
	for k, s := range t.from {
		out[k] = string(s)
	}
	return out
}

// SealBatch seals a batch: PENDING → PROCESSING with sealed = true, only
// when it has exactly runCount runs. Sealing a sealed batch returns it
// unchanged (idempotent), except that its runs no longer execute in its
// BatchIngest (Batch.RunsHere) if SealBatchRunningHere sealed it. An
// aborted batch gives ErrNotPending, a batch with missing runs
// ErrIncomplete (wrapped with the counts).
func (s *Store) SealBatch(ctx context.Context, id string) (Batch, error) {
	return s.sealBatch(ctx, id, false)
}

// SealBatchRunningHere is SealBatch for a small batch whose BatchIngest
// workflow executes the runs itself: the row says so (Batch.RunsHere), for
// the status answer to name that workflow.
func (s *Store) SealBatchRunningHere(ctx context.Context, id string) (Batch, error) {
	return s.sealBatch(ctx, id, true)
}

// ClearRunsHere records that a batch's runs execute in its BatchRuns, not
// (or no longer) in its BatchIngest: Batch.RunsHere becomes false.
func (s *Store) ClearRunsHere(ctx context.Context, id string) error {
	if err := s.q.ClearRunsHere(ctx, id); err != nil {
		return fmt.Errorf("store: clear runs_here of %s: %w", id, err)
	}
	return nil
}

func (s *Store) sealBatch(ctx context.Context, id string, runsHere bool) (Batch, error) {
	_, err := s.q.SealBatch(ctx, db.SealBatchParams{ID: id, FromStatus: sealing.fromStatuses(), ToStatus: sealing.to, RunsHere: runsHere})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Batch{}, fmt.Errorf("store: seal %s: %w", id, err)
	}
	b, gerr := s.GetBatchAnyEnv(ctx, id)
	if gerr != nil {
		return Batch{}, gerr
	}
	switch {
	case b.Done() && b.RunsHere && !runsHere:
		// Sealed to run here by a local seal whose result was lost: the
		// Seal activity that follows hands the runs to BatchRuns.
		if err := s.ClearRunsHere(ctx, id); err != nil {
			return Batch{}, err
		}
		b.RunsHere = false
		return b, nil
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
	t := aborting
	if sealedToo {
		t = abortingAny
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if err := q.LockBatchExclusive(ctx, id); err != nil {
			return err
		}
		_, err := q.AbortBatch(ctx, db.AbortBatchParams{ID: id, Reason: &reason, FromStatus: t.fromStatuses(), ToStatus: t.to})
		if errors.Is(err, pgx.ErrNoRows) {
			if status, err := q.BatchStatus(ctx, id); err != nil || status != batch.StatusAborted {
				return nil // not pending: reported below from the row
			}
		} else if err != nil {
			return err
		}
		// Every insert that held the lock has committed: a new statement
		// sees their runs.
		return q.CancelOpenRuns(ctx, db.CancelOpenRunsParams{BatchID: id, Reason: ptr("batch aborted: " + reason)})
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

// CompleteBatch marks a PROCESSING batch COMPLETED when none of its runs
// is open, and returns the batch as it is afterwards (completed reports
// whether this call completed it).
func (s *Store) CompleteBatch(ctx context.Context, id string) (b Batch, completed bool, err error) {
	_, err = s.q.CompleteBatch(ctx, db.CompleteBatchParams{ID: id, FromStatus: completing.fromStatuses(), ToStatus: completing.to})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Batch{}, false, fmt.Errorf("store: complete %s: %w", id, err)
	}
	completed = err == nil
	b, err = s.GetBatchAnyEnv(ctx, id)
	return b, completed, err
}

// ErrNothingToReplay: the batch has no run that failed while executing.
var ErrNothingToReplay = errors.New("batch has no failed, expired or timed-out runs to replay")

// ErrNotCompleted: the batch is not COMPLETED (replay needs it to be).
var ErrNotCompleted = errors.New("batch is not completed")

// ReplayBatch puts a COMPLETED batch's runs that failed while executing
// (FAILED, EXPIRED, TIMED_OUT; not the ones that failed at creation) back
// in the queue and the batch back to PROCESSING. It returns how many runs
// will run again.
func (s *Store) ReplayBatch(ctx context.Context, id string) (int, error) {
	n, err := s.replay(ctx, id, func(q *db.Queries) (int64, error) {
		return q.ReplayRuns(ctx, db.ReplayRunsParams{BatchID: id, CreationErrors: batch.CreationErrors})
	})
	if err != nil {
		return 0, fmt.Errorf("store: replay %s: %w", id, err)
	}
	return int(n), nil
}

// ErrNotReplayable: the run did not fail while executing (replay needs a
// FAILED, EXPIRED or TIMED_OUT run that once ran).
var ErrNotReplayable = errors.New("run did not fail while executing")

// ReplayRun is ReplayBatch for the run at index of a COMPLETED batch: that
// run alone goes back in the queue, keeping its id, and the batch back to
// PROCESSING. ErrNotCompleted when the batch is not COMPLETED,
// ErrNotReplayable when the run did not fail while executing; either way
// nothing changes.
func (s *Store) ReplayRun(ctx context.Context, batchID string, index int) error {
	_, err := s.replay(ctx, batchID, func(q *db.Queries) (int64, error) {
		n, err := q.ReplayRun(ctx, db.ReplayRunParams{BatchID: batchID, BatchIndex: int32(index), CreationErrors: batch.CreationErrors})
		if err == nil && n == 0 {
			err = ErrNotReplayable
		}
		return n, err
	})
	if err != nil {
		return fmt.Errorf("store: replay run %d of %s: %w", index, batchID, err)
	}
	return nil
}

// replay takes batch id from COMPLETED back to PROCESSING and requeues its
// runs with requeue, in one transaction; requeue returns how many.
func (s *Store) replay(ctx context.Context, id string, requeue func(*db.Queries) (int64, error)) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		replayed, err := q.ReplayBatch(ctx, db.ReplayBatchParams{ID: id, FromStatus: replaying.fromStatuses(), ToStatus: replaying.to})
		if err != nil {
			return err
		}
		if replayed == 0 {
			return ErrNotCompleted
		}
		if n, err = requeue(q); err != nil {
			return err
		}
		if n == 0 {
			return ErrNothingToReplay
		}
		return nil
	})
	return n, err
}
