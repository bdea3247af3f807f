-- name: RecordChunk :exec
INSERT INTO batch_chunks (batch_id, stream, seq, ranges) VALUES (@batch_id, @stream, @seq, @ranges)
ON CONFLICT (batch_id, stream, seq) DO NOTHING;

-- name: ChunkRanges :many
SELECT ranges FROM batch_chunks WHERE batch_id = @batch_id;
