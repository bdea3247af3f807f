-- name: ClaimIdempotencyKeys :many
-- Resolves the idempotency keys of a chunk's keyed items in one statement
-- (store.InsertRuns; one row per distinct (key_hash, task), inserted in
-- (key_hash, task) order so that concurrent claims lock keys in one order:
-- no deadlock between two chunks that share keys). A key no row holds is
-- inserted for the item's run. A key held by a live run is kept: the
-- upsert locks the row and returns it as it is (committed by another
-- transaction after this statement's snapshot too, which a read would not
-- see), so the item names that run. A key whose time ran out, or whose run
-- FAILED, EXPIRED or TIMED_OUT (trigger.dev clears such keys), moves to the
-- item's run. The returned rows say, per key, which run it names now.
INSERT INTO run_idempotency_keys AS k (environment_id, key_hash, task, batch_id, batch_index, expires_at)
SELECT sqlc.arg(environment_id)::bigint, u.key_hash, u.task, sqlc.arg(batch_id)::text, u.idx,
       now() + u.ttl_ms * interval '1 millisecond'
FROM (SELECT unnest(sqlc.arg(key_hash)::bytea[]) AS key_hash,
            unnest(sqlc.arg(task)::text[]) AS task,
            unnest(sqlc.arg(idx)::int[]) AS idx,
            unnest(sqlc.arg(ttl_ms)::bigint[]) AS ttl_ms) AS u
ORDER BY u.key_hash, u.task
ON CONFLICT (environment_id, key_hash, task) DO UPDATE
SET batch_id = CASE WHEN k.expires_at <= now() OR EXISTS (
        SELECT 1 FROM runs r WHERE r.batch_id = k.batch_id AND r.batch_index = k.batch_index
          AND r.status IN ('FAILED', 'EXPIRED', 'TIMED_OUT')) THEN excluded.batch_id ELSE k.batch_id END,
    batch_index = CASE WHEN k.expires_at <= now() OR EXISTS (
        SELECT 1 FROM runs r WHERE r.batch_id = k.batch_id AND r.batch_index = k.batch_index
          AND r.status IN ('FAILED', 'EXPIRED', 'TIMED_OUT')) THEN excluded.batch_index ELSE k.batch_index END,
    expires_at = CASE WHEN k.expires_at <= now() OR EXISTS (
        SELECT 1 FROM runs r WHERE r.batch_id = k.batch_id AND r.batch_index = k.batch_index
          AND r.status IN ('FAILED', 'EXPIRED', 'TIMED_OUT')) THEN excluded.expires_at ELSE k.expires_at END
RETURNING k.key_hash, k.task, k.batch_id, k.batch_index;

-- name: ResetIdempotencyKey :execrows
-- trigger.dev's idempotencyKeys.reset: the key no longer names a run of
-- the task, so the next item with it creates a new run.
DELETE FROM run_idempotency_keys
WHERE environment_id = @environment_id AND key_hash = @key_hash AND task = @task;

-- name: IdempotencyKeyRuns :many
-- The runs a key names in an environment (one per task at most), for
-- runs.list's filter[idempotencyKey].
SELECT task, batch_id, batch_index FROM run_idempotency_keys
WHERE environment_id = @environment_id AND key_hash = @key_hash
ORDER BY task;

-- name: DeleteExpiredIdempotencyKeys :execrows
-- Up to max_keys keys that expired before expired_before, oldest first
-- (the sweep): an expired key no longer names a run, and an item with it
-- would replace it anyway.
DELETE FROM run_idempotency_keys
WHERE ctid = ANY (ARRAY(SELECT ctid FROM run_idempotency_keys
                        WHERE expires_at < @expired_before::timestamptz
                        ORDER BY expires_at LIMIT @max_keys::int));
