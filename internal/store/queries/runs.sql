-- name: CopyRuns :copyfrom
-- The fast path of store.InsertRuns: COPY, in a transaction that holds
-- LockBatchShared and found the batch PENDING.
INSERT INTO runs (batch_id, batch_index, environment_id, task, payload, payload_type, options,
                  status, error_code, error_message, queue_timestamp, delay_until, cached_run_id)
VALUES (@batch_id, @batch_index, @environment_id, @task, @payload, @payload_type, @options,
        @status, @error_code, @error_message, @queue_timestamp, @delay_until, @cached_run_id);

-- name: InsertRuns :execrows
-- The slow path of a retried chunk (see store.InsertRuns); runs after
-- LockBatchShared in the same transaction. delay_until counts only where
-- delayed is true; cached_run_id is set on CACHED rows only.
WITH b AS (
    SELECT id, environment_id, created_at FROM batches
    WHERE id = sqlc.arg(batch_id)::text AND status = 'PENDING'
)
INSERT INTO runs (batch_id, batch_index, environment_id, task, payload, payload_type, options,
                  status, error_code, error_message, queue_timestamp, delay_until, cached_run_id)
SELECT b.id, u.idx, b.environment_id, u.task, u.payload, u.payload_type, u.options::jsonb,
       u.status, u.error_code, u.error_message,
       b.created_at + u.idx * interval '1 millisecond', CASE WHEN u.delayed THEN u.delay_until END, u.cached_run_id
FROM b, (SELECT unnest(sqlc.arg(idx)::int[]) AS idx,
            unnest(sqlc.arg(task)::text[]) AS task,
            unnest(sqlc.arg(payload)::varchar[]) AS payload,
            unnest(sqlc.arg(payload_type)::text[]) AS payload_type,
            unnest(sqlc.arg(options)::varchar[]) AS options,
            unnest(sqlc.arg(error_code)::varchar[]) AS error_code,
            unnest(sqlc.arg(error_message)::varchar[]) AS error_message,
            unnest(sqlc.arg(status)::text[]) AS status,
            unnest(sqlc.arg(delayed)::bool[]) AS delayed,
            unnest(sqlc.arg(delay_until)::timestamptz[]) AS delay_until,
            unnest(sqlc.arg(cached_run_id)::varchar[]) AS cached_run_id) AS u
ON CONFLICT (batch_id, batch_index) DO NOTHING;

-- name: CancelOpenRuns :exec
UPDATE runs SET status = 'CANCELED', error_code = 'CANCELED', error_message = @reason, completed_at = now()
WHERE batch_id = @batch_id AND status IN ('QUEUED', 'DELAYED', 'EXECUTING');

-- name: CountRuns :one
SELECT count(*)::int AS total, (count(*) FILTER (WHERE status = 'FAILED'))::int AS failed
FROM runs WHERE batch_id = @batch_id;

-- name: ListRuns :many
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until, cached_run_id
FROM runs
WHERE batch_id = @batch_id AND batch_index > @after
ORDER BY batch_index
LIMIT @max_runs;

-- name: EachRun :many
-- Up to max_runs runs of a batch after index after, in index order, whose
-- status is one of statuses and whose task is one of tasks (a NULL array
-- admits any), created from created_from to created_to (both inclusive; a
-- NULL bound admits any), and
-- no more than fit in max_bytes bytes of stored payload, output, options
-- and error message (the first run always comes). The inner query reads
-- one run more than max_runs so that "more" tells whether runs remain
-- beyond the page. octet_length of a text value and pg_column_size read a
-- TOASTed value's size from its pointer: the runs past the budget are
-- never fetched.
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until, cached_run_id,
       (n < total)::boolean AS more
FROM (
    SELECT r.*,
           row_number() OVER w AS n,
           count(*) OVER () AS total,
           sum(coalesce(octet_length(r.payload), 0) + coalesce(octet_length(r.output), 0)
               + coalesce(pg_column_size(r.options), 0) + coalesce(octet_length(r.error_message), 0)) OVER w AS running
    FROM (SELECT * FROM runs
          WHERE batch_id = sqlc.arg(batch_id) AND batch_index > sqlc.arg(after)
            AND (sqlc.narg(statuses)::text[] IS NULL OR status = ANY(sqlc.narg(statuses)::text[]))
            AND (sqlc.narg(tasks)::text[] IS NULL OR task = ANY(sqlc.narg(tasks)::text[]))
            AND (sqlc.narg(tags)::text[] IS NULL OR jsonb_exists_any(options -> 'tags', sqlc.narg(tags)::text[]))
            AND (sqlc.narg(created_from)::timestamptz IS NULL OR created_at >= sqlc.narg(created_from)::timestamptz)
            AND (sqlc.narg(created_to)::timestamptz IS NULL OR created_at <= sqlc.narg(created_to)::timestamptz)
          ORDER BY batch_index LIMIT sqlc.arg(max_runs)::int + 1) r
    WINDOW w AS (ORDER BY r.batch_index ROWS UNBOUNDED PRECEDING)
) page
WHERE n <= sqlc.arg(max_runs)::int AND (n = 1 OR running <= sqlc.arg(max_bytes)::bigint)
ORDER BY batch_index;

-- name: EachRunBefore :many
-- EachRun's page read the other way: up to max_runs runs of a batch before
-- index before, nearest it (the highest index) first, with the filters and
-- byte budget of EachRun.
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until, cached_run_id,
       (n < total)::boolean AS more
FROM (
    SELECT r.*,
           row_number() OVER w AS n,
           count(*) OVER () AS total,
           sum(coalesce(octet_length(r.payload), 0) + coalesce(octet_length(r.output), 0)
               + coalesce(pg_column_size(r.options), 0) + coalesce(octet_length(r.error_message), 0)) OVER w AS running
    FROM (SELECT * FROM runs
          WHERE batch_id = sqlc.arg(batch_id) AND batch_index < sqlc.arg(before)
            AND (sqlc.narg(statuses)::text[] IS NULL OR status = ANY(sqlc.narg(statuses)::text[]))
            AND (sqlc.narg(tasks)::text[] IS NULL OR task = ANY(sqlc.narg(tasks)::text[]))
            AND (sqlc.narg(tags)::text[] IS NULL OR jsonb_exists_any(options -> 'tags', sqlc.narg(tags)::text[]))
            AND (sqlc.narg(created_from)::timestamptz IS NULL OR created_at >= sqlc.narg(created_from)::timestamptz)
            AND (sqlc.narg(created_to)::timestamptz IS NULL OR created_at <= sqlc.narg(created_to)::timestamptz)
          ORDER BY batch_index DESC LIMIT sqlc.arg(max_runs)::int + 1) r
    WINDOW w AS (ORDER BY r.batch_index DESC ROWS UNBOUNDED PRECEDING)
) page
WHERE n <= sqlc.arg(max_runs)::int AND (n = 1 OR running <= sqlc.arg(max_bytes)::bigint)
ORDER BY batch_index DESC;

-- name: RunIndexes :many
SELECT batch_index FROM runs WHERE batch_id = @batch_id;

-- name: GetRun :one
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until, cached_run_id
FROM runs
WHERE batch_id = @batch_id AND batch_index = @batch_index;

-- name: RunCounts :many
SELECT status, count(*)::int AS n FROM runs WHERE batch_id = @batch_id GROUP BY status;

-- name: RunCountsWaiting :many
-- RunCounts, and for each status how many of its runs a dispatch step
-- claimed and the oldest claim: QUEUED runs that were claimed are
-- dispatched to their task queue but not started by a task worker. One
-- read of the batch's runs, as RunCounts.
SELECT status, count(*)::int AS n, (count(*) FILTER (WHERE claimed_by IS NOT NULL))::int AS claimed,
       min(claimed_at) FILTER (WHERE claimed_by IS NOT NULL) AS oldest_claim
FROM runs WHERE batch_id = @batch_id GROUP BY status;

-- name: WaitingForWorkerByQueue :many
-- Runs waiting for a task worker across every batch, by environment and
-- options.queue: a scan of runs_claimed_only (its predicate is repeated so
-- that the planner uses it), whose size is bounded by the runs in flight
-- (each batch's window), not by the runs stored.
SELECT e.name AS env_name, (r.options -> 'queue')::jsonb AS queue, count(*)::int AS n, min(r.claimed_at) AS since
FROM runs r JOIN environments e ON e.id = r.environment_id
WHERE r.claimed_by IS NOT NULL AND r.status IN ('QUEUED', 'EXECUTING') AND r.status = 'QUEUED'
GROUP BY e.name, r.options -> 'queue';

-- name: PromoteDelayedRuns :one
-- DELAYED runs whose time has come become QUEUED (and claimable); the
-- lowest index promoted, or NULL.
WITH promoted AS (
    UPDATE runs SET status = 'QUEUED'
    WHERE batch_id = @batch_id AND status = 'DELAYED' AND delay_until <= @now::timestamptz
    RETURNING batch_index
)
SELECT min(batch_index) AS lowest FROM promoted;

-- name: ClaimRuns :many
-- Claims up to max_runs open runs from index from_index on, in index
-- order, for the dispatch step token of the workflow run whose claims
-- start with owner (claimed_by = "<run id>:<step>"), at most max_bytes
-- bytes of payload and options (the first run always); a payload of
-- ref_from stored bytes or more (0: none) counts 1 KiB, since it goes to
-- its task worker by reference. Runs claimed by
-- another workflow run are stale (BatchRuns drains before it continues as
-- new) and claimed again. A retried step (its workflow task failed after
-- the claim committed) gets back what it claimed before, plus fresh runs up
-- to max_runs and max_bytes.
--
-- Queues (queues.sql): a run of a paused queue is skipped, and so is a run
-- of a queue with a limit (its row's override, else its row's base, else
-- the run's own options.queue.concurrencyLimit) whose (queue, key) holds
-- that many slots already, counting the runs this claim takes. Limits are
-- enforced only under the environment's queue lock (PrepareQueues, same
-- transaction), which it takes when such runs are among the next max_runs;
-- without it such runs are skipped. Under the lock the claim looks up to
-- lookahead runs ahead, so that a full queue or key does not hide the runs
-- behind it; otherwise max_runs, as it always did.
WITH b AS (
    SELECT environment_id AS env,
           coalesce(current_setting('streambatch.queues_locked', true), '') = 'on' AS locked
    FROM batches WHERE id = sqlc.arg(batch_id)::text
), mine AS (
    SELECT batch_index,
           CASE WHEN sqlc.arg(ref_from)::int > 0 AND payload_type <> 'application/store' AND octet_length(payload) >= sqlc.arg(ref_from)::int
                THEN 1024 ELSE coalesce(octet_length(payload), 0) END + coalesce(octet_length(options::text), 0) + 512 AS size
    FROM runs
    WHERE batch_id = sqlc.arg(batch_id)::text AND claimed_by = sqlc.arg(token)::text AND status IN ('QUEUED', 'EXECUTING')
), held AS (
    SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM mine
), ahead AS (
    SELECT batch_index,
           CASE WHEN sqlc.arg(ref_from)::int > 0 AND payload_type <> 'application/store' AND octet_length(payload) >= sqlc.arg(ref_from)::int
                THEN 1024 ELSE coalesce(octet_length(payload), 0) END + coalesce(octet_length(options::text), 0) + 512 AS size,
           coalesce(options -> 'queue' ->> 'name', 'task/' || task) AS queue,
           coalesce(options ->> 'concurrencyKey', '') AS ckey,
           (options -> 'queue' ->> 'concurrencyLimit')::int AS own_limit
    FROM runs
    WHERE batch_id = sqlc.arg(batch_id)::text AND batch_index >= sqlc.arg(from_index)::int AND status IN ('QUEUED', 'EXECUTING')
      AND (claimed_by IS NULL OR NOT starts_with(claimed_by, sqlc.arg(owner)::text))
    ORDER BY batch_index
    LIMIT CASE WHEN (SELECT locked FROM b) THEN greatest(sqlc.arg(lookahead)::int, sqlc.arg(max_runs)::int)
               ELSE sqlc.arg(max_runs)::int END
), gated AS (
    SELECT a.batch_index, a.size, a.queue, a.ckey, coalesce(q.paused, false) AS paused,
           coalesce(q.override_limit, q.base_limit, a.own_limit) AS lim,
           row_number() OVER (PARTITION BY a.queue, a.ckey ORDER BY a.batch_index) AS k
    FROM ahead a LEFT JOIN queues q ON q.environment_id = (SELECT env FROM b) AND q.name = a.queue
), slots AS (
    -- Slots held per limited (queue, key): claimed open runs of the
    -- environment (runs_queue_slots), this batch's stale claims excepted
    -- (they are claimed again here).
    SELECT p.queue, p.ckey,
           (SELECT count(*) FROM runs r
            WHERE r.environment_id = (SELECT env FROM b) AND r.claimed_by IS NOT NULL AND r.status IN ('QUEUED', 'EXECUTING')
              AND coalesce(r.options -> 'queue' ->> 'name', 'task/' || r.task) = p.queue
              AND coalesce(r.options ->> 'concurrencyKey', '') = p.ckey
              AND (r.batch_id <> sqlc.arg(batch_id)::text OR starts_with(r.claimed_by, sqlc.arg(owner)::text))) AS taken
    FROM (SELECT DISTINCT queue, ckey FROM gated WHERE lim IS NOT NULL AND NOT paused) p
), fresh AS (
    SELECT g.batch_index, g.size
    FROM gated g LEFT JOIN slots s ON s.queue = g.queue AND s.ckey = g.ckey
    WHERE NOT g.paused AND (g.lim IS NULL OR ((SELECT locked FROM b) AND s.taken + g.k <= g.lim))
    ORDER BY g.batch_index
    LIMIT greatest(sqlc.arg(max_runs)::int - (SELECT n FROM held), 0)
), picked AS (
    SELECT batch_index FROM mine
    UNION ALL
    SELECT f.batch_index
    FROM (
        SELECT batch_index, sum(size) OVER w AS total, row_number() OVER w AS k
        FROM fresh WINDOW w AS (ORDER BY batch_index)
    ) f, held
    WHERE (f.k = 1 AND held.n = 0) OR held.bytes + f.total <= sqlc.arg(max_bytes)::bigint
)
UPDATE runs r SET claimed_by = sqlc.arg(token)::text, attempt_base = r.attempts,
    -- A retried step keeps the time of its claim.
    claimed_at = CASE WHEN r.claimed_by = sqlc.arg(token)::text THEN coalesce(r.claimed_at, now()) ELSE now() END
FROM picked p
WHERE r.batch_id = sqlc.arg(batch_id)::text AND r.batch_index = p.batch_index
RETURNING r.batch_index, r.task, r.payload, r.payload_type, r.options, r.attempts, r.queue_timestamp, r.delay_until;

-- name: NextDelay :one
SELECT min(delay_until) AS next FROM runs WHERE batch_id = @batch_id AND status = 'DELAYED';

-- name: HasOpenRuns :one
-- Whether runs are QUEUED or EXECUTING (ready), and whether any is DELAYED.
SELECT EXISTS (SELECT 1 FROM runs WHERE batch_id = @batch_id::text AND status IN ('QUEUED', 'EXECUTING')) AS ready,
       EXISTS (SELECT 1 FROM runs WHERE batch_id = @batch_id::text AND status = 'DELAYED') AS delayed;

-- name: RecordResults :exec
-- Final outcomes of runs, in bulk. A run that is already final (cancelled
-- meanwhile) keeps its state.
UPDATE runs r
SET status = u.status, output = u.output, output_type = u.output_type,
    error_code = u.error_code, error_message = u.error_message,
    attempts = greatest(r.attempts, r.attempt_base + u.attempts),
    completed_at = u.completed_at
FROM (SELECT unnest(sqlc.arg(idx)::int[]) AS idx,
            unnest(sqlc.arg(status)::text[]) AS status,
            unnest(sqlc.arg(output)::varchar[]) AS output,
            unnest(sqlc.arg(output_type)::varchar[]) AS output_type,
            unnest(sqlc.arg(error_code)::varchar[]) AS error_code,
            unnest(sqlc.arg(error_message)::varchar[]) AS error_message,
            unnest(sqlc.arg(attempts)::int[]) AS attempts,
            unnest(sqlc.arg(completed_at)::timestamptz[]) AS completed_at) AS u
WHERE r.batch_id = sqlc.arg(batch_id) AND r.batch_index = u.idx AND r.status IN ('QUEUED', 'DELAYED', 'EXECUTING');

-- name: MarkExecuting :exec
-- Runs a task worker has started (from the workflow's pending activities).
UPDATE runs r
SET status = 'EXECUTING', attempts = greatest(r.attempts, r.attempt_base + u.attempt), started_at = u.started_at
FROM (SELECT unnest(sqlc.arg(idx)::int[]) AS idx,
            unnest(sqlc.arg(attempt)::int[]) AS attempt,
            unnest(sqlc.arg(started_at)::timestamptz[]) AS started_at) AS u
WHERE r.batch_id = sqlc.arg(batch_id) AND r.batch_index = u.idx AND r.status IN ('QUEUED', 'EXECUTING')
  AND starts_with(r.claimed_by, sqlc.arg(owner)::text);

-- name: ReconcileAttempts :exec
-- Exact attempt counts and start times of runs dispatched by the workflow
-- run whose claims start with owner, read from its history (attempt 0: the
-- start time only, for runs of a slice, whose outcomes count attempts).
UPDATE runs r
SET attempts = CASE WHEN u.attempt > 0 THEN r.attempt_base + u.attempt ELSE r.attempts END, started_at = u.started_at
FROM (SELECT unnest(sqlc.arg(idx)::int[]) AS idx,
            unnest(sqlc.arg(attempt)::int[]) AS attempt,
            unnest(sqlc.arg(started_at)::timestamptz[]) AS started_at) AS u
WHERE r.batch_id = sqlc.arg(batch_id) AND r.batch_index = u.idx AND starts_with(r.claimed_by, sqlc.arg(owner)::text);

-- name: CancelRun :execrows
-- Cancels a run no dispatcher holds (DELAYED, or QUEUED and unclaimed).
UPDATE runs SET status = 'CANCELED', error_code = 'CANCELED', error_message = @reason, completed_at = now()
WHERE batch_id = @batch_id AND batch_index = @batch_index
  AND (status = 'DELAYED' OR (status = 'QUEUED' AND claimed_by IS NULL));

-- name: ReplayRuns :execrows
-- Runs that failed while executing go back to the queue; runs that failed
-- before they could run (creation_errors: their error codes) stay failed.
UPDATE runs
SET status = 'QUEUED', output = NULL, output_type = NULL, error_code = NULL, error_message = NULL,
    started_at = NULL, completed_at = NULL, claimed_by = NULL, claimed_at = NULL
WHERE batch_id = @batch_id AND status IN ('FAILED', 'EXPIRED', 'TIMED_OUT') AND error_code <> ALL (@creation_errors::text[]);

-- name: CreationErrors :many
-- Runs that failed before they could run (trigger.dev's batch processing errors).
SELECT batch_index, task, coalesce(error_code, '')::text AS error_code, coalesce(error_message, '')::text AS error_message
FROM runs
WHERE batch_id = @batch_id AND status = 'FAILED' AND error_code = ANY (@creation_errors::text[])
ORDER BY batch_index;

-- name: HasCreationErrors :one
SELECT EXISTS (SELECT 1 FROM runs WHERE batch_id = @batch_id AND status = 'FAILED' AND error_code = ANY (@creation_errors::text[]));

-- name: ReplayRun :execrows
-- ReplayRuns for the one run at batch_index.
UPDATE runs
SET status = 'QUEUED', output = NULL, output_type = NULL, error_code = NULL, error_message = NULL,
    started_at = NULL, completed_at = NULL, claimed_by = NULL, claimed_at = NULL
WHERE batch_id = @batch_id AND batch_index = @batch_index AND status IN ('FAILED', 'EXPIRED', 'TIMED_OUT')
  AND error_code <> ALL (@creation_errors::text[]);

-- name: RescheduleRun :execrows
-- A DELAYED run waits until delay_until instead.
UPDATE runs SET delay_until = @delay_until
WHERE batch_id = @batch_id AND batch_index = @batch_index AND status = 'DELAYED';

-- name: AddRunTags :one
-- Adds tags to the run's options.tags (a string or an array), keeping the
-- first occurrence of each, unless that makes more than max_tags; the row
-- lock serialises concurrent adds. No row: the run would have too many.
WITH cur AS (
    SELECT CASE jsonb_typeof(options -> 'tags')
               WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(options -> 'tags'))
               WHEN 'string' THEN ARRAY[options ->> 'tags']
               ELSE '{}'::text[] END AS tags
    FROM runs WHERE batch_id = @batch_id AND batch_index = @batch_index
    FOR UPDATE
), merged AS (
    SELECT ARRAY(SELECT u.t FROM unnest(cur.tags || @tags::text[]) WITH ORDINALITY AS u(t, o)
                 GROUP BY u.t ORDER BY min(u.o)) AS tags,
           cardinality(cur.tags) AS before
    FROM cur
)
UPDATE runs r
SET options = jsonb_set(CASE WHEN jsonb_typeof(r.options) = 'object' THEN r.options ELSE '{}'::jsonb END,
                        '{tags}', to_jsonb(merged.tags))
FROM merged
WHERE r.batch_id = @batch_id AND r.batch_index = @batch_index AND cardinality(merged.tags) <= @max_tags::int
RETURNING (cardinality(merged.tags) - merged.before)::int AS added;

-- name: LockRunMetadata :one
-- A run's status and options.metadata (NULL: none), its row locked until
-- the transaction ends (SetRunMetadata).
SELECT status, (options -> 'metadata')::jsonb AS metadata
FROM runs WHERE batch_id = @batch_id AND batch_index = @batch_index
FOR UPDATE;

-- name: SetRunMetadata :exec
UPDATE runs
SET options = jsonb_set(CASE WHEN jsonb_typeof(options) = 'object' THEN options ELSE '{}'::jsonb END,
                        '{metadata}', @metadata::jsonb)
WHERE batch_id = @batch_id AND batch_index = @batch_index;

-- name: RunCreatedAt :one
-- The creation time of a run of an environment: the cursor of EachEnvRun.
SELECT created_at FROM runs
WHERE batch_id = @batch_id AND batch_index = @batch_index AND environment_id = @environment_id;

-- name: EachEnvRun :many
-- Up to max_runs runs of an environment, newest first (created_at, then
-- batch_id and batch_index, descending), before the cursor (before_created,
-- before_batch, before_index), passing the filters of EachRun, and no more
-- than fit in max_bytes as EachRun counts them. The cursor and the creation
-- bounds are always given (times beyond every run for none), so that
-- runs_environment_created bounds the scan whatever the plan.
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until, cached_run_id,
       (n < total)::boolean AS more
FROM (
    SELECT r.*,
           row_number() OVER w AS n,
           count(*) OVER () AS total,
           sum(coalesce(octet_length(r.payload), 0) + coalesce(octet_length(r.output), 0)
               + coalesce(pg_column_size(r.options), 0) + coalesce(octet_length(r.error_message), 0)) OVER w AS running
    FROM (SELECT * FROM runs
          WHERE environment_id = sqlc.arg(environment_id) AND status <> 'CACHED'
            AND (created_at, batch_id, batch_index)
                < (sqlc.arg(before_created)::timestamptz, sqlc.arg(before_batch)::text, sqlc.arg(before_index)::int)
            AND created_at >= sqlc.arg(created_from)::timestamptz
            AND created_at <= sqlc.arg(created_to)::timestamptz
            AND (sqlc.narg(statuses)::text[] IS NULL OR status = ANY(sqlc.narg(statuses)::text[]))
            AND (sqlc.narg(tasks)::text[] IS NULL OR task = ANY(sqlc.narg(tasks)::text[]))
            AND (sqlc.narg(tags)::text[] IS NULL OR jsonb_exists_any(options -> 'tags', sqlc.narg(tags)::text[]))
          ORDER BY created_at DESC, batch_id DESC, batch_index DESC
          LIMIT sqlc.arg(max_runs)::int + 1) r
    WINDOW w AS (ORDER BY r.created_at DESC, r.batch_id DESC, r.batch_index DESC ROWS UNBOUNDED PRECEDING)
) page
WHERE n <= sqlc.arg(max_runs)::int AND (n = 1 OR running <= sqlc.arg(max_bytes)::bigint)
ORDER BY created_at DESC, batch_id DESC, batch_index DESC;

-- name: EachEnvRunBefore :many
-- EachEnvRun's page read the other way: up to max_runs runs of an
-- environment newer than the cursor (after_created, after_batch,
-- after_index), nearest it (the oldest) first, with the filters and byte
-- budget of EachEnvRun.
SELECT id, batch_index, task, status, payload_type, payload, options, error_code, error_message,
       queue_timestamp, created_at, output, output_type, attempts, started_at, completed_at, delay_until, cached_run_id,
       (n < total)::boolean AS more
FROM (
    SELECT r.*,
           row_number() OVER w AS n,
           count(*) OVER () AS total,
           sum(coalesce(octet_length(r.payload), 0) + coalesce(octet_length(r.output), 0)
               + coalesce(pg_column_size(r.options), 0) + coalesce(octet_length(r.error_message), 0)) OVER w AS running
    FROM (SELECT * FROM runs
          WHERE environment_id = sqlc.arg(environment_id) AND status <> 'CACHED'
            AND (created_at, batch_id, batch_index)
                > (sqlc.arg(after_created)::timestamptz, sqlc.arg(after_batch)::text, sqlc.arg(after_index)::int)
            AND created_at >= sqlc.arg(created_from)::timestamptz
            AND created_at <= sqlc.arg(created_to)::timestamptz
            AND (sqlc.narg(statuses)::text[] IS NULL OR status = ANY(sqlc.narg(statuses)::text[]))
            AND (sqlc.narg(tasks)::text[] IS NULL OR task = ANY(sqlc.narg(tasks)::text[]))
            AND (sqlc.narg(tags)::text[] IS NULL OR jsonb_exists_any(options -> 'tags', sqlc.narg(tags)::text[]))
          ORDER BY created_at, batch_id, batch_index
          LIMIT sqlc.arg(max_runs)::int + 1) r
    WINDOW w AS (ORDER BY r.created_at, r.batch_id, r.batch_index ROWS UNBOUNDED PRECEDING)
) page
WHERE n <= sqlc.arg(max_runs)::int AND (n = 1 OR running <= sqlc.arg(max_bytes)::bigint)
ORDER BY created_at, batch_id, batch_index;

-- name: CachedRuns :many
-- The CACHED runs of a batch (items whose idempotency key named an
-- existing run) and the run each names, in index order.
SELECT batch_index, cached_run_id::text AS cached_run_id FROM runs
WHERE batch_id = @batch_id AND status = 'CACHED'
ORDER BY batch_index;

-- name: GetRunsByID :many
-- The runs at (batch_ids[k], indexes[k]): the runs CACHED rows name.
SELECT r.id, r.batch_index, r.task, r.status, r.payload_type, r.payload, r.options, r.error_code, r.error_message,
       r.queue_timestamp, r.created_at, r.output, r.output_type, r.attempts, r.started_at, r.completed_at,
       r.delay_until, r.cached_run_id, r.batch_id
FROM runs r
JOIN (SELECT unnest(sqlc.arg(batch_ids)::text[]) AS batch_id, unnest(sqlc.arg(indexes)::int[]) AS batch_index) AS u
  ON r.batch_id = u.batch_id AND r.batch_index = u.batch_index
WHERE r.environment_id = @environment_id;
