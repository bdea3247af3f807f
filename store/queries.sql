-- Every SQL statement streambatch runs. Each starts with "-- name: <name>";
-- store/queries.go loads them by name at start-up.

-- name: upsert_environment
INSERT INTO environments (name) VALUES ($1)
ON CONFLICT (name) DO UPDATE SET name = excluded.name
RETURNING id, name;

-- name: insert_api_key
INSERT INTO api_keys (environment_id, key_hash, key_prefix, secret_sealed) VALUES ($1, $2, $3, $4)
RETURNING id;

-- name: lookup_api_key
SELECT k.key_hash, k.id, e.id, e.name
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL;

-- name: environment_key_secrets
-- The sealed secrets of an environment's active keys, with their hashes.
SELECT k.id, k.key_hash, k.secret_sealed, e.name
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE k.environment_id = $1 AND k.revoked_at IS NULL AND k.secret_sealed IS NOT NULL;

-- name: active_key_environment
SELECT e.id, e.name
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE k.id = $1 AND k.revoked_at IS NULL;

-- name: list_api_keys
SELECT k.id, k.key_prefix, e.name, k.created_at, k.revoked_at, k.secret_sealed IS NOT NULL
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE ($1::text IS NULL OR e.name = $1)
ORDER BY k.id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL;

-- name: insert_batch
INSERT INTO batches (id, environment_id, run_count, idempotency_key, idempotency_key_options,
                     task_identifiers, parent_run_id, resume_parent_on_completion)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (environment_id, idempotency_key_hash) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING created_at;

-- name: get_batch_by_idempotency_key
SELECT b.id, b.environment_id, e.name, b.run_count, b.status, b.sealed, b.idempotency_key,
       b.created_at, b.updated_at, b.sealed_at, b.aborted_at, b.abort_reason,
       b.completed_at, b.replays, b.parent_run_id, b.resume_parent_on_completion, b.parent_notified_at, b.accepted_at, b.parent_refused
FROM batches b JOIN environments e ON e.id = b.environment_id
WHERE b.environment_id = $1 AND b.idempotency_key_hash = streambatch_key_hash($2::text)
  AND b.idempotency_key = $2;

-- name: get_batch
SELECT b.id, b.environment_id, e.name, b.run_count, b.status, b.sealed, b.idempotency_key,
       b.created_at, b.updated_at, b.sealed_at, b.aborted_at, b.abort_reason,
       b.completed_at, b.replays, b.parent_run_id, b.resume_parent_on_completion, b.parent_notified_at, b.accepted_at, b.parent_refused
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
                  status, error_code, error_message, queue_timestamp, delay_until)
SELECT b.id, u.idx, b.environment_id, u.task, u.payload, u.payload_type, u.options::jsonb,
       u.status, u.error_code, u.error_message,
       b.created_at + u.idx * interval '1 millisecond', u.delay_until
FROM b, unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
               $9::text[], $10::timestamptz[])
        AS u (idx, task, payload, payload_type, options, error_code, error_message, status, delay_until)
ON CONFLICT (batch_id, batch_index) DO NOTHING;

-- name: seal_batch
-- Seals only when every index has its run; idempotent callers re-read the
-- row when this updates nothing. runs_inserted answers in O(1); the count
-- (evaluated only when the counter falls short) covers runs inserted
-- without it (before migration 00011, or by an older worker).
UPDATE batches
SET status = 'PROCESSING', sealed = true, sealed_at = now(), updated_at = now()
WHERE id = $1 AND status = 'PENDING'
  AND (runs_inserted = run_count OR (SELECT count(*) FROM runs WHERE batch_id = $1) = run_count)
RETURNING sealed_at;

-- name: add_runs_inserted
-- Counts the runs a transaction inserted into its batch (the last
-- statement before its commit: the row lock is held for the commit only).
UPDATE batches SET runs_inserted = runs_inserted + $2 WHERE id = $1;

-- name: abort_batch
-- $3 also aborts a sealed batch whose runs are executing (PROCESSING).
UPDATE batches
SET status = 'ABORTED', aborted_at = now(), abort_reason = $2, updated_at = now()
WHERE id = $1 AND (status = 'PENDING' OR ($3 AND status = 'PROCESSING'))
RETURNING aborted_at;

-- name: cancel_open_runs
UPDATE runs SET status = 'CANCELED', error_code = 'CANCELED', error_message = $2, completed_at = now()
WHERE batch_id = $1 AND status IN ('QUEUED', 'DELAYED', 'EXECUTING');

-- name: count_runs
SELECT count(*), count(*) FILTER (WHERE status = 'FAILED')
FROM runs WHERE batch_id = $1;

-- name: list_runs
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until
FROM runs
WHERE batch_id = $1 AND batch_index > $2
ORDER BY batch_index
LIMIT $3;

-- name: each_run
-- Up to $3 runs of a batch after index $2, in index order, and no more than
-- fit in $4 bytes of stored payload, output, options and error message (the
-- first run always comes). The inner query reads one run more than $3 so
-- that "more" tells whether runs remain beyond the page. octet_length of a
-- text value and pg_column_size read a TOASTed value's size from its
-- pointer: the runs past the budget are never fetched.
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until,
       n < total AS more
FROM (
    SELECT r.*,
           row_number() OVER w AS n,
           count(*) OVER () AS total,
           sum(coalesce(octet_length(r.payload), 0) + coalesce(octet_length(r.output), 0)
               + coalesce(pg_column_size(r.options), 0) + coalesce(octet_length(r.error_message), 0)) OVER w AS running
    FROM (SELECT * FROM runs WHERE batch_id = $1 AND batch_index > $2 ORDER BY batch_index LIMIT $3 + 1) r
    WINDOW w AS (ORDER BY r.batch_index ROWS UNBOUNDED PRECEDING)
) page
WHERE n <= $3 AND (n = 1 OR running <= $4)
ORDER BY batch_index;

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

-- name: batch_status
SELECT status FROM batches WHERE id = $1;

-- name: pending_batch
SELECT environment_id, created_at FROM batches WHERE id = $1 AND status = 'PENDING';

-- name: count_batches_by_state
SELECT status, count(*) FROM batches GROUP BY status;

-- name: get_run
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until
FROM runs
WHERE batch_id = $1 AND batch_index = $2;

-- name: run_counts
SELECT status, count(*) FROM runs WHERE batch_id = $1 GROUP BY status;

-- name: run_counts_waiting
-- run_counts, and for each status how many of its runs a dispatch step
-- claimed and the oldest claim: QUEUED runs that were claimed are
-- dispatched to their task queue but not started by a task worker. One
-- read of the batch's runs, as run_counts.
SELECT status, count(*), count(*) FILTER (WHERE claimed_by IS NOT NULL),
       min(claimed_at) FILTER (WHERE claimed_by IS NOT NULL)
FROM runs WHERE batch_id = $1 GROUP BY status;

-- name: waiting_for_worker_by_queue
-- Runs waiting for a task worker across every batch, by environment and
-- options.queue: a scan of runs_claimed_only (its predicate is repeated so
-- that the planner uses it), whose size is bounded by the runs in flight
-- (each batch's window), not by the runs stored.
SELECT e.name, r.options -> 'queue', count(*), min(r.claimed_at)
FROM runs r JOIN environments e ON e.id = r.environment_id
WHERE r.claimed_by IS NOT NULL AND r.status IN ('QUEUED', 'EXECUTING') AND r.status = 'QUEUED'
GROUP BY e.name, r.options -> 'queue';

-- name: promote_delayed_runs
-- DELAYED runs whose time has come become QUEUED (and claimable); the
-- lowest index promoted, or NULL.
WITH promoted AS (
    UPDATE runs SET status = 'QUEUED'
    WHERE batch_id = $1 AND status = 'DELAYED' AND delay_until <= $2
    RETURNING batch_index
)
SELECT min(batch_index) FROM promoted;

-- name: claim_runs
-- Claims up to $4 open runs from index $6 on, in index order, for dispatch
-- step $2 of the workflow run whose claims start with $3 (claimed_by =
-- "<run id>:<step>"), at most $5 bytes of payload and options (the first
-- run always). Runs
-- claimed by another workflow run are stale (BatchRuns drains before it
-- continues as new) and claimed again. A retried step (its workflow task
-- failed after the claim committed) gets back what it claimed before, plus
-- fresh runs up to $4 and $5.
WITH mine AS (
    SELECT batch_index,
           coalesce(octet_length(payload), 0) + coalesce(octet_length(options::text), 0) + 512 AS size
    FROM runs
    WHERE batch_id = $1 AND claimed_by = $2 AND status IN ('QUEUED', 'EXECUTING')
), held AS (
    SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM mine
), fresh AS (
    SELECT batch_index,
           coalesce(octet_length(payload), 0) + coalesce(octet_length(options::text), 0) + 512 AS size
    FROM runs
    WHERE batch_id = $1 AND batch_index >= $6 AND status IN ('QUEUED', 'EXECUTING')
      AND (claimed_by IS NULL OR NOT starts_with(claimed_by, $3))
    ORDER BY batch_index
    LIMIT greatest($4 - (SELECT n FROM held), 0)
), picked AS (
    SELECT batch_index FROM mine
    UNION ALL
    SELECT f.batch_index
    FROM (
        SELECT batch_index, sum(size) OVER w AS total, row_number() OVER w AS k
        FROM fresh WINDOW w AS (ORDER BY batch_index)
    ) f, held
    WHERE (f.k = 1 AND held.n = 0) OR held.bytes + f.total <= $5
)
UPDATE runs r SET claimed_by = $2, attempt_base = r.attempts,
    -- A retried step keeps the time of its claim.
    claimed_at = CASE WHEN r.claimed_by = $2 THEN coalesce(r.claimed_at, now()) ELSE now() END
FROM picked p
WHERE r.batch_id = $1 AND r.batch_index = p.batch_index
RETURNING r.batch_index, r.task, r.payload, r.payload_type, r.options, r.attempts, r.queue_timestamp, r.delay_until;

-- name: next_delay
SELECT min(delay_until) FROM runs WHERE batch_id = $1 AND status = 'DELAYED';

-- name: has_open_runs
-- Whether runs are QUEUED or EXECUTING (ready), and whether any is DELAYED.
SELECT EXISTS (SELECT 1 FROM runs WHERE batch_id = $1 AND status IN ('QUEUED', 'EXECUTING')),
       EXISTS (SELECT 1 FROM runs WHERE batch_id = $1 AND status = 'DELAYED');

-- name: record_results
-- Final outcomes of runs, in bulk. A run that is already final (cancelled
-- meanwhile) keeps its state.
UPDATE runs r
SET status = u.status, output = u.output, output_type = u.output_type,
    error_code = u.error_code, error_message = u.error_message,
    attempts = greatest(r.attempts, r.attempt_base + u.attempts),
    completed_at = u.completed_at
FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::timestamptz[])
        AS u (idx, status, output, output_type, error_code, error_message, attempts, completed_at)
WHERE r.batch_id = $1 AND r.batch_index = u.idx AND r.status IN ('QUEUED', 'DELAYED', 'EXECUTING');

-- name: mark_executing
-- Runs a task worker has started (from the workflow's pending activities).
UPDATE runs r
SET status = 'EXECUTING', attempts = greatest(r.attempts, r.attempt_base + u.attempt), started_at = u.started_at
FROM unnest($2::int[], $3::int[], $4::timestamptz[]) AS u (idx, attempt, started_at)
WHERE r.batch_id = $1 AND r.batch_index = u.idx AND r.status IN ('QUEUED', 'EXECUTING')
  AND starts_with(r.claimed_by, $5);

-- name: reconcile_attempts
-- Exact attempt counts and start times of runs dispatched by workflow run
-- $5, read from its history.
UPDATE runs r
SET attempts = r.attempt_base + u.attempt, started_at = u.started_at
FROM unnest($2::int[], $3::int[], $4::timestamptz[]) AS u (idx, attempt, started_at)
WHERE r.batch_id = $1 AND r.batch_index = u.idx AND starts_with(r.claimed_by, $5);

-- name: complete_batch
-- PROCESSING → COMPLETED once no run is open.
UPDATE batches SET status = 'COMPLETED', completed_at = now(), updated_at = now()
WHERE id = $1 AND status = 'PROCESSING'
  AND NOT EXISTS (SELECT 1 FROM runs WHERE batch_id = $1 AND status IN ('QUEUED', 'EXECUTING'))
  AND NOT EXISTS (SELECT 1 FROM runs WHERE batch_id = $1 AND status = 'DELAYED')
RETURNING completed_at;

-- name: mark_parent_notified
UPDATE batches SET parent_notified_at = now() WHERE id = $1 AND parent_notified_at IS NULL;

-- name: mark_parent_refused
-- The parent workflow was not signalled, and why.
UPDATE batches SET parent_refused = $2 WHERE id = $1 AND parent_notified_at IS NULL;

-- name: cancel_run
-- Cancels a run no dispatcher holds (DELAYED, or QUEUED and unclaimed).
UPDATE runs SET status = 'CANCELED', error_code = 'CANCELED', error_message = $3, completed_at = now()
WHERE batch_id = $1 AND batch_index = $2
  AND (status = 'DELAYED' OR (status = 'QUEUED' AND claimed_by IS NULL));

-- name: replay_batch
UPDATE batches
SET status = 'PROCESSING', completed_at = NULL, parent_notified_at = NULL, parent_refused = NULL, replays = replays + 1, updated_at = now()
WHERE id = $1 AND status = 'COMPLETED';

-- name: replay_runs
-- Runs that failed while executing go back to the queue; runs that failed
-- before they could run ($2: creation error codes) stay failed.
UPDATE runs
SET status = 'QUEUED', output = NULL, output_type = NULL, error_code = NULL, error_message = NULL,
    started_at = NULL, completed_at = NULL, claimed_by = NULL, claimed_at = NULL
WHERE batch_id = $1 AND status IN ('FAILED', 'EXPIRED', 'TIMED_OUT') AND error_code <> ALL ($2::text[]);

-- name: record_chunk
INSERT INTO batch_chunks (batch_id, stream, seq, ranges) VALUES ($1, $2, $3, $4)
ON CONFLICT (batch_id, stream, seq) DO NOTHING;

-- name: chunk_ranges
SELECT ranges FROM batch_chunks WHERE batch_id = $1;

-- name: creation_errors
-- Runs that failed before they could run (trigger.dev's batch processing errors).
SELECT batch_index, task, error_code, coalesce(error_message, '')
FROM runs
WHERE batch_id = $1 AND status = 'FAILED' AND error_code = ANY ($2::text[])
ORDER BY batch_index;

-- name: has_creation_errors
SELECT EXISTS (SELECT 1 FROM runs WHERE batch_id = $1 AND status = 'FAILED' AND error_code = ANY ($2::text[]));

-- name: mark_accepted
UPDATE batches SET accepted_at = coalesce(accepted_at, now()), updated_at = now()
WHERE id = $1 AND status = 'PENDING';

-- name: unswept_batches
-- Finished batches whose objects were not swept since they finished.
SELECT b.id, e.name
FROM batches b JOIN environments e ON e.id = b.environment_id
WHERE b.swept_at IS NULL AND coalesce(b.sealed_at, b.aborted_at) < $1
ORDER BY coalesce(b.sealed_at, b.aborted_at)
LIMIT $2;

-- name: referenced_objects
-- The object keys runs at these indexes hold (payloads and outputs).
SELECT k FROM (
    SELECT CASE WHEN payload_type = 'application/store' THEN payload END AS k FROM runs
    WHERE batch_id = $1 AND batch_index = ANY ($2::int[])
    UNION ALL
    SELECT CASE WHEN output_type = 'application/store' THEN output END FROM runs
    WHERE batch_id = $1 AND batch_index = ANY ($2::int[])
) refs WHERE k IS NOT NULL;

-- name: mark_swept
UPDATE batches SET swept_at = now() WHERE id = $1;

-- name: take_create_tokens
-- Takes $4 tokens (≤ $3, the burst) of environment $1's creation bucket,
-- refilled at $2 tokens per second since its last take, up to $3: one
-- statement, so concurrent takes from any replica serialise on the row.
-- A first take finds a full bucket. now() is the statement's start, and a
-- take that waited for the row lock behind a later one refills nothing.
-- Returns whether it was granted and the tokens left.
INSERT INTO create_buckets AS b (environment_id, tokens, updated_at, granted)
VALUES ($1, $3::float8 - $4::float8, now(), true)
ON CONFLICT (environment_id) DO UPDATE SET
    granted = least($3::float8, b.tokens + $2::float8 * greatest(0, extract(epoch FROM now() - b.updated_at)::float8)) >= $4::float8,
    tokens = least($3::float8, b.tokens + $2::float8 * greatest(0, extract(epoch FROM now() - b.updated_at)::float8))
             - CASE WHEN least($3::float8, b.tokens + $2::float8 * greatest(0, extract(epoch FROM now() - b.updated_at)::float8)) >= $4::float8
                    THEN $4::float8 ELSE 0 END,
    updated_at = greatest(b.updated_at, now())
RETURNING granted, tokens;

-- name: take_read_slot
-- Takes a free slot (none, or its lease expired) of environment $1's $2
-- slots of heavy reads for holder $3 until now() + $4 seconds; no row when
-- all are held. The slot is picked at random among the free ones, so
-- concurrent takes seldom collide; when two do, the primary key lets one
-- win and the other finds no row (it answers "try again").
INSERT INTO read_slots AS r (environment_id, slot, holder, expires_at)
SELECT $1, s, $3, now() + make_interval(secs => $4)
FROM generate_series(0, $2::int - 1) AS s
WHERE NOT EXISTS (SELECT 1 FROM read_slots h WHERE h.environment_id = $1 AND h.slot = s AND h.expires_at > now())
ORDER BY random()
LIMIT 1
ON CONFLICT (environment_id, slot) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE r.expires_at <= now()
RETURNING slot;

-- name: renew_read_slot
UPDATE read_slots SET expires_at = now() + make_interval(secs => $4)
WHERE environment_id = $1 AND slot = $2 AND holder = $3;

-- name: release_read_slot
DELETE FROM read_slots WHERE environment_id = $1 AND slot = $2 AND holder = $3;
