package store

import (
	"context"
	"fmt"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// The accepted indexes of a batch are the indexes of the chunks its Phase 2
// requests signalled: a request records each chunk once its signal is
// durable and before it answers, so the record holds every index a client
// was told is accepted. Phase 2 reads it to skip what earlier requests
// delivered; nothing else keeps or corrects that set (BatchIngest only
// decides which of its chunks inserts an index).

// RecordChunk records that a Phase 2 request signalled a chunk with these
// indexes to the batch's workflow (a repeated record changes nothing).
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

// AcceptedIndexes returns the indexes of every chunk recorded for a batch
// (RecordChunk): what earlier Phase 2 requests delivered.
func (s *Store) AcceptedIndexes(ctx context.Context, batchID string, runCount int) (*batch.IndexSet, error) {
	set := batch.NewIndexSet(runCount)
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
