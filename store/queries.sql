-- Every SQL statement streambatch runs. Each starts with "-- name: <name>";
-- store/queries.go loads them by name at start-up.

-- name: upsert_environment
INSERT INTO environments (name) VALUES ($1)
ON CONFLICT (name) DO UPDATE SET name = excluded.name
RETURNING id, name;

-- name: insert_api_key
INSERT INTO api_keys (environment_id, key_hash, key_prefix) VALUES ($1, $2, $3);

-- name: lookup_api_key
SELECT k.key_hash, e.id, e.name
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL;

-- name: insert_batch
INSERT INTO batches (id, environment_id, run_count, idempotency_key, idempotency_key_options,
                     task_identifiers, parent_run_id, resume_parent_on_completion)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (environment_id, idempotency_key_hash) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING created_at;

-- name: get_batch_by_idempotency_key
SELECT b.id, b.environment_id, e.name, b.run_count, b.status, b.sealed, b.idempotency_key,
       b.created_at, b.updated_at, b.sealed_at, b.aborted_at, b.abort_reason
FROM batches b JOIN environments e ON e.id = b.environment_id
WHERE b.environment_id = $1 AND b.idempotency_key_hash = streambatch_key_hash($2::text)
  AND b.idempotency_key = $2;

-- name: get_batch
SELECT b.id, b.environment_id, e.name, b.run_count, b.status, b.sealed, b.idempotency_key,
       b.created_at, b.updated_at, b.sealed_at, b.aborted_at, b.abort_reason
FROM batches b JOIN environments e ON e.id = b.environment_id
WHERE b.id = $1;

-- name: insert_runs
-- The slow path of a retried chunk (see store.InsertRuns); runs after
-- lock_batch_shared in the same transaction.
WITH b AS (
    SELECT id, environment_id, created_at FROM batches
    WHERE id = $1 AND status = 'PENDING'
)
INSERT INTO runs (batch_id, batch_index, environment_id, task, payload, payload_type, options,
                  status, error_code, error_message, queue_timestamp)
SELECT b.id, u.idx, b.environment_id, u.task, u.payload, u.payload_type, u.options::jsonb,
       CASE WHEN u.error_code IS NULL THEN 'QUEUED' ELSE 'FAILED' END,
       u.error_code, u.error_message,
       b.created_at + u.idx * interval '1 millisecond'
FROM b, unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
        AS u (idx, task, payload, payload_type, options, error_code, error_message)
ON CONFLICT (batch_id, batch_index) DO NOTHING;

-- name: seal_batch
-- Seals only when every index has its run; idempotent callers re-read the
-- row when this updates nothing.
UPDATE batches
SET status = 'PROCESSING', sealed = true, sealed_at = now(), updated_at = now()
WHERE id = $1 AND status = 'PENDING'
  AND (SELECT count(*) FROM runs WHERE batch_id = $1) = run_count
RETURNING sealed_at;

-- name: abort_batch
UPDATE batches
SET status = 'ABORTED', aborted_at = now(), abort_reason = $2, updated_at = now()
WHERE id = $1 AND status = 'PENDING'
RETURNING aborted_at;

-- name: cancel_queued_runs
UPDATE runs SET status = 'CANCELED', error_message = $2
WHERE batch_id = $1 AND status = 'QUEUED';

-- name: count_runs
SELECT count(*), count(*) FILTER (WHERE status = 'FAILED')
FROM runs WHERE batch_id = $1;

-- name: list_runs
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at
FROM runs
WHERE batch_id = $1 AND batch_index > $2
ORDER BY batch_index
LIMIT $3;

-- name: run_indexes
SELECT batch_index FROM runs WHERE batch_id = $1;

-- name: begin_stream
UPDATE batches SET streams = streams + 1 WHERE id = $1 RETURNING streams;

-- name: lock_batch_shared
-- Run inserts hold this transaction-scoped advisory lock in shared mode and
-- abort holds it exclusively, so an abort waits for the inserts in flight
-- and an insert after an abort sees ABORTED. (A FOR SHARE row lock did the
-- same but made concurrent inserts build MultiXacts on the batch row.)
SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0));

-- name: lock_batch_exclusive
SELECT pg_advisory_xact_lock(hashtextextended($1, 0));

-- name: pending_batch
SELECT environment_id, created_at FROM batches WHERE id = $1 AND status = 'PENDING';

-- name: count_batches_by_state
SELECT status, count(*) FROM batches GROUP BY status;
