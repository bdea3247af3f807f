-- name: InsertBatch :one
INSERT INTO batches (id, environment_id, run_count, idempotency_key, idempotency_key_options,
                     task_identifiers, parent_run_id, resume_parent_on_completion, seal_deadline)
VALUES (@id, @environment_id, @run_count, @idempotency_key, @idempotency_key_options,
        @task_identifiers, @parent_run_id, @resume_parent_on_completion,
        now() + make_interval(secs => @seal_timeout_secs::float8))
ON CONFLICT (environment_id, idempotency_key_hash) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING created_at, seal_deadline;

-- name: GetBatchByIdempotencyKey :one
-- Returns the columns of GetBatch, in its order (store converts one row
-- type into the other).
SELECT b.id, b.environment_id, e.name AS env_name, b.run_count, b.status, b.sealed, b.idempotency_key,
       b.created_at, b.updated_at, b.sealed_at, b.aborted_at, b.abort_reason,
       b.completed_at, b.replays, b.parent_run_id, b.resume_parent_on_completion, b.parent_notified_at, b.accepted_at, b.parent_refused, b.runs_here,
       b.seal_deadline
FROM batches b JOIN environments e ON e.id = b.environment_id
WHERE b.environment_id = @environment_id AND b.idempotency_key_hash = streambatch_key_hash(@idempotency_key::text)
  AND b.idempotency_key = @idempotency_key::text;

-- name: GetBatch :one
SELECT b.id, b.environment_id, e.name AS env_name, b.run_count, b.status, b.sealed, b.idempotency_key,
       b.created_at, b.updated_at, b.sealed_at, b.aborted_at, b.abort_reason,
       b.completed_at, b.replays, b.parent_run_id, b.resume_parent_on_completion, b.parent_notified_at, b.accepted_at, b.parent_refused, b.runs_here,
       b.seal_deadline
FROM batches b JOIN environments e ON e.id = b.environment_id
WHERE b.id = @id;

-- name: SealBatch :one
-- Like AbortBatch, CompleteBatch and ReplayBatch, it takes the statuses it
-- changes from and to from its transition in store/lifecycle.go.
-- Seals only when every index has its run; idempotent callers re-read the
-- row when this updates nothing. runs_inserted answers in O(1); the count
-- (evaluated only when the counter falls short) covers runs inserted
-- without it (before migration 00011, or by an older worker).
UPDATE batches
SET status = @to_status, sealed = true, sealed_at = now(), updated_at = now(), runs_here = @runs_here::boolean
WHERE id = @id::text AND status = ANY (@from_status::text[])
  AND (runs_inserted = run_count OR (SELECT count(*) FROM runs WHERE batch_id = @id::text) = run_count)
RETURNING sealed_at;

-- name: ClearRunsHere :exec
-- The batch's runs execute in its BatchRuns, not (or no longer) in its
-- BatchIngest: a local seal that committed runs_here and then failed, whose
-- Seal activity tells BatchRuns; a BatchIngest that hands its runs over.
UPDATE batches SET runs_here = false, updated_at = now() WHERE id = @id AND runs_here;

-- name: AddRunsInserted :exec
-- Counts the runs a transaction inserted into its batch (the last
-- statement before its commit: the row lock is held for the commit only),
-- and how many of them are CACHED.
UPDATE batches SET runs_inserted = runs_inserted + @n, runs_cached = runs_cached + @cached WHERE id = @id;

-- name: RunsCached :one
-- How many of a batch's runs are CACHED (they name runs of other items).
SELECT runs_cached FROM batches WHERE id = @id;

-- name: AbortBatch :one
UPDATE batches
SET status = @to_status, aborted_at = now(), abort_reason = @reason, updated_at = now()
WHERE id = @id AND status = ANY (@from_status::text[])
RETURNING aborted_at;

-- name: CompleteBatch :one
-- Completes the batch once no run is open.
UPDATE batches SET status = @to_status, completed_at = now(), updated_at = now()
WHERE id = @id::text AND status = ANY (@from_status::text[])
  AND NOT EXISTS (SELECT 1 FROM runs WHERE batch_id = @id::text AND status IN ('QUEUED', 'EXECUTING'))
  AND NOT EXISTS (SELECT 1 FROM runs WHERE batch_id = @id::text AND status = 'DELAYED')
RETURNING completed_at;

-- name: ReplayBatch :execrows
-- A replay's runs execute in the batch's BatchRuns, even for a batch whose
-- BatchIngest executed them first: runs_here no longer holds.
UPDATE batches
SET status = @to_status, completed_at = NULL, parent_notified_at = NULL, parent_refused = NULL,
    replays = replays + 1, runs_here = false, updated_at = now()
WHERE id = @id AND status = ANY (@from_status::text[]);

-- name: BeginStream :one
UPDATE batches SET streams = streams + 1 WHERE id = @id RETURNING streams;

-- name: LockBatchShared :exec
-- Run inserts hold this transaction-scoped advisory lock in shared mode and
-- abort holds it exclusively, so an abort waits for the inserts in flight
-- and an insert after an abort sees ABORTED. (A FOR SHARE row lock did the
-- same but made concurrent inserts build MultiXacts on the batch row.)
SELECT pg_advisory_xact_lock_shared(hashtextextended(@id::text, 0));

-- name: LockBatchExclusive :exec
SELECT pg_advisory_xact_lock(hashtextextended(@id::text, 0));

-- name: BatchStatus :one
SELECT status FROM batches WHERE id = @id;

-- name: PendingBatch :one
SELECT environment_id, created_at FROM batches WHERE id = @id AND status = 'PENDING';

-- name: CountBatchesByState :many
SELECT status, count(*)::int AS n FROM batches GROUP BY status;

-- name: MarkAccepted :exec
UPDATE batches SET accepted_at = coalesce(accepted_at, now()), updated_at = now()
WHERE id = @id AND status = 'PENDING';

-- name: MarkParentNotified :execrows
UPDATE batches SET parent_notified_at = now() WHERE id = @id AND parent_notified_at IS NULL;

-- name: MarkParentRefused :exec
-- The parent workflow was not signalled, and why.
UPDATE batches SET parent_refused = @reason WHERE id = @id AND parent_notified_at IS NULL;
