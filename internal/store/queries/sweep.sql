-- name: UnsweptBatches :many
-- Finished batches whose objects were not swept since they finished.
SELECT b.id, e.name AS env_name
FROM batches b JOIN environments e ON e.id = b.environment_id
WHERE b.swept_at IS NULL AND coalesce(b.sealed_at, b.aborted_at) < @finished_before::timestamptz
ORDER BY coalesce(b.sealed_at, b.aborted_at)
LIMIT @max_batches;

-- name: ReferencedObjects :many
-- The object keys runs at these indexes hold (payloads and outputs).
SELECT k::text FROM (
    SELECT CASE WHEN payload_type = 'application/store' THEN payload END AS k FROM runs
    WHERE batch_id = @batch_id::text AND batch_index = ANY (@indexes::int[])
    UNION ALL
    SELECT CASE WHEN output_type = 'application/store' THEN output END FROM runs
    WHERE batch_id = @batch_id::text AND batch_index = ANY (@indexes::int[])
) refs WHERE k IS NOT NULL;

-- name: MarkSwept :exec
UPDATE batches SET swept_at = now() WHERE id = @id;

-- name: OverdueBatches :many
-- PENDING batches past their seal deadline, oldest first (the partial
-- index batches_pending_created holds only PENDING batches).
SELECT b.id, e.name AS env_name, b.run_count, b.created_at, b.seal_deadline::timestamptz AS seal_deadline
FROM batches b JOIN environments e ON e.id = b.environment_id
WHERE b.status = 'PENDING' AND b.seal_deadline < @now::timestamptz
ORDER BY b.created_at
LIMIT @max_batches;
