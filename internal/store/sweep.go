package store

import (
	"context"
	"fmt"
	"time"

	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// SweepTarget is a finished batch whose objects are to be swept.
type SweepTarget struct {
	BatchID string
	Env     string
}

// UnsweptBatches returns up to limit batches that finished (sealed or
// aborted) before finishedBefore and were not swept since, oldest first.
func (s *Store) UnsweptBatches(ctx context.Context, finishedBefore time.Time, limit int) ([]SweepTarget, error) {
	rows, err := s.q.UnsweptBatches(ctx, db.UnsweptBatchesParams{FinishedBefore: finishedBefore, MaxBatches: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("store: unswept batches: %w", err)
	}
	out := make([]SweepTarget, len(rows))
	for k, r := range rows {
		out[k] = SweepTarget{BatchID: r.ID, Env: r.EnvName}
	}
	return out, nil
}

// ReferencedObjects returns the object keys (stored payloads and outputs)
// that the batch's runs at indexes hold.
func (s *Store) ReferencedObjects(ctx context.Context, batchID string, indexes []int32) (map[string]bool, error) {
	keys, err := s.q.ReferencedObjects(ctx, db.ReferencedObjectsParams{BatchID: batchID, Indexes: indexes})
	if err != nil {
		return nil, fmt.Errorf("store: referenced objects of %s: %w", batchID, err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}

// MarkSwept records that the batch's objects were swept.
func (s *Store) MarkSwept(ctx context.Context, batchID string) error {
	if err := s.q.MarkSwept(ctx, batchID); err != nil {
		return fmt.Errorf("store: mark %s swept: %w", batchID, err)
	}
	return nil
}

// OverdueBatch is a PENDING batch past its seal deadline.
type OverdueBatch struct {
	BatchID      string
	Env          string
	RunCount     int
	CreatedAt    time.Time
	SealDeadline time.Time
}

// OverdueBatches returns up to limit PENDING batches whose seal deadline
// passed before now, oldest first: batches that never received a chunk
// have no workflow to abort them (it starts with the first chunk).
func (s *Store) OverdueBatches(ctx context.Context, now time.Time, limit int) ([]OverdueBatch, error) {
	rows, err := s.q.OverdueBatches(ctx, db.OverdueBatchesParams{Now: now, MaxBatches: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("store: overdue batches: %w", err)
	}
	out := make([]OverdueBatch, len(rows))
	for k, r := range rows {
		out[k] = OverdueBatch{BatchID: r.ID, Env: r.EnvName, RunCount: int(r.RunCount), CreatedAt: r.CreatedAt, SealDeadline: r.SealDeadline}
	}
	return out, nil
}
