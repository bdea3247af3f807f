package store

import (
	"context"
	"fmt"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/store/internal/db"
)

// RecordChunk remembers that a Phase 2 request signalled a chunk with these
// indexes to the batch's workflow.
func (s *Store) RecordChunk(ctx context.Context, batchID, stream string, seq int, indexes batch.Ranges) error {
	flat := make([]int32, 0, 2*len(indexes))
	for _, r := range indexes {
		flat = append(flat, int32(r[0]), int32(r[1]))
	}
	if err := s.q.RecordChunk(ctx, db.RecordChunkParams{BatchID: batchID, Stream: stream, Seq: int32(seq), Ranges: flat}); err != nil {
		return fmt.Errorf("store: record chunk %s/%d of %s: %w", stream, seq, batchID, err)
	}
	return nil
}

// DropChunk forgets a chunk the workflow refused (its indexes are open
// again).
func (s *Store) DropChunk(ctx context.Context, batchID, stream string, seq int) error {
	if err := s.q.DropChunk(ctx, db.DropChunkParams{BatchID: batchID, Stream: stream, Seq: int32(seq)}); err != nil {
		return fmt.Errorf("store: drop chunk %s/%d of %s: %w", stream, seq, batchID, err)
	}
	return nil
}

// SignalledIndexes returns the indexes of every chunk recorded for a batch
// (RecordChunk) and of every run it has: what earlier Phase 2 requests
// delivered, without asking the workflow.
func (s *Store) SignalledIndexes(ctx context.Context, batchID string, runCount int) (*batch.IndexSet, error) {
	set, err := s.RunIndexes(ctx, batchID, runCount)
	if err != nil {
		return nil, err
	}
	chunks, err := s.q.ChunkRanges(ctx, batchID)
	if err != nil {
		return nil, fmt.Errorf("store: chunks of %s: %w", batchID, err)
	}
	for _, flat := range chunks {
		for k := 0; k+1 < len(flat); k += 2 {
			r := batch.Ranges{{int(flat[k]), int(flat[k+1])}}
			if r.Valid(runCount) {
				set.AddRanges(r)
			}
		}
	}
	return set, nil
}
