package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SweepTarget is a finished batch whose objects are to be swept.
type SweepTarget struct {
	BatchID string
	Env     string
}

// UnsweptBatches returns up to limit batches that finished (sealed or
// aborted) before finishedBefore and were not swept since, oldest first.
func (s *Store) UnsweptBatches(ctx context.Context, finishedBefore time.Time, limit int) ([]SweepTarget, error) {
	rows, err := s.pool.Query(ctx, s.q.get("unswept_batches"), finishedBefore, limit)
	if err != nil {
		return nil, fmt.Errorf("store: unswept batches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SweepTarget, error) {
		var t SweepTarget
		return t, r.Scan(&t.BatchID, &t.Env)
	})
	if err != nil {
		return nil, fmt.Errorf("store: unswept batches: %w", err)
	}
	return out, nil
}

// ReferencedObjects returns the object keys (stored payloads and outputs)
// that the batch's runs at indexes hold.
func (s *Store) ReferencedObjects(ctx context.Context, batchID string, indexes []int32) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, s.q.get("referenced_objects"), batchID, indexes)
	if err != nil {
		return nil, fmt.Errorf("store: referenced objects of %s: %w", batchID, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
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
	if _, err := s.pool.Exec(ctx, s.q.get("mark_swept"), batchID); err != nil {
		return fmt.Errorf("store: mark %s swept: %w", batchID, err)
	}
	return nil
}
