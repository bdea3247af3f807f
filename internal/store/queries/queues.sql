-- name: PrepareQueues :one
-- The first statement of a dispatch step that claims or records runs
-- (before RecordQueueLimits, ClaimRuns and WakeQueueWaiters). When the
-- batch's next max_runs claimable runs include a run of a limited or
-- paused queue (a queue row's limit or pause, or the run's own
-- options.queue.concurrencyLimit), or the runs at idx (whose outcomes the
-- step recorded) are of a limited queue, it takes the environment's queue
-- lock until the transaction ends and marks the transaction
-- (streambatch.queues_locked) so that ClaimRuns enforces the limits and
-- looks past max_runs for runs of other queues and keys. A step of a batch
-- whose runs are of unlimited queues takes no lock and claims as it always
-- did. The lock serialises every step that counts or frees slots in the
-- environment; it is taken in a statement of its own, first, so that the
-- next statements' snapshots see every claim and outcome committed before
-- it, and before any queue row is locked (no lock cycle).
WITH b AS (
    SELECT environment_id AS env FROM batches WHERE id = sqlc.arg(batch_id)::text
), limited AS (
    SELECT q.name FROM queues q, b
    WHERE q.environment_id = b.env AND (q.paused OR q.override_limit IS NOT NULL OR q.base_limit IS NOT NULL)
), ahead AS (
    SELECT coalesce(options -> 'queue' ->> 'name', 'task/' || task) AS queue,
           (options -> 'queue' ->> 'concurrencyLimit')::int AS lim
    FROM runs
    WHERE batch_id = sqlc.arg(batch_id)::text AND batch_index >= sqlc.arg(from_index)::int AND status IN ('QUEUED', 'EXECUTING')
      AND (claimed_by IS NULL OR NOT starts_with(claimed_by, sqlc.arg(owner)::text))
    ORDER BY batch_index
    LIMIT sqlc.arg(max_runs)::int
), freed AS (
    SELECT coalesce(options -> 'queue' ->> 'name', 'task/' || task) AS queue,
           (options -> 'queue' ->> 'concurrencyLimit')::int AS lim
    FROM runs
    WHERE batch_id = sqlc.arg(batch_id)::text AND batch_index = ANY (sqlc.arg(idx)::int[])
), need AS (
    SELECT b.env FROM b
    WHERE EXISTS (SELECT 1 FROM ahead a WHERE a.lim IS NOT NULL OR a.queue IN (SELECT name FROM limited))
       OR EXISTS (SELECT 1 FROM freed f WHERE f.lim IS NOT NULL OR f.queue IN (SELECT name FROM limited))
)
SELECT coalesce(bool_or(length(pg_advisory_xact_lock(1918, need.env::int)::text
                               || set_config('streambatch.queues_locked', 'on', true)) > 0), false)::boolean AS locked
FROM need;

-- name: RecordQueueLimits :exec
-- After PrepareQueues (which holds the queue lock when this has anything
-- to record: a limit among those runs): the concurrencyLimit that the batch's next max_runs
-- claimable runs name in options.queue becomes their queue's base limit
-- (the largest, when they differ).
WITH b AS (
    SELECT environment_id AS env FROM batches WHERE id = sqlc.arg(batch_id)::text
), ahead AS (
    SELECT coalesce(options -> 'queue' ->> 'name', 'task/' || task) AS queue,
           (options -> 'queue' ->> 'concurrencyLimit')::int AS lim
    FROM runs
    WHERE batch_id = sqlc.arg(batch_id)::text AND batch_index >= sqlc.arg(from_index)::int AND status IN ('QUEUED', 'EXECUTING')
      AND (claimed_by IS NULL OR NOT starts_with(claimed_by, sqlc.arg(owner)::text))
    ORDER BY batch_index
    LIMIT sqlc.arg(max_runs)::int
)
INSERT INTO queues (environment_id, name, base_limit)
SELECT b.env, a.queue, max(a.lim) FROM ahead a, b WHERE a.lim IS NOT NULL GROUP BY b.env, a.queue
ON CONFLICT (environment_id, name) DO UPDATE SET base_limit = excluded.base_limit, updated_at = now()
WHERE queues.base_limit IS DISTINCT FROM excluded.base_limit;

-- name: BlockedRuns :one
-- After ClaimRuns, under the queue lock: the lowest index, among the
-- batch's next lookahead open runs from from_index not claimed by owner,
-- of a run of a limited or paused queue (left waiting for a slot), and
-- that queue. The batch becomes a waiter of each such queue
-- (queue_waiters, with the lowest index waiting) so that the step that
-- frees a slot wakes it. No row: no run waits for a queue.
WITH b AS (
    SELECT environment_id AS env FROM batches
    WHERE id = sqlc.arg(batch_id)::text AND coalesce(current_setting('streambatch.queues_locked', true), '') = 'on'
), ahead AS (
    SELECT batch_index,
           coalesce(options -> 'queue' ->> 'name', 'task/' || task) AS queue,
           (options -> 'queue' ->> 'concurrencyLimit')::int AS own_limit
    FROM runs
    WHERE batch_id = sqlc.arg(batch_id)::text AND batch_index >= sqlc.arg(from_index)::int AND status IN ('QUEUED', 'EXECUTING')
      AND (claimed_by IS NULL OR NOT starts_with(claimed_by, sqlc.arg(owner)::text))
      AND EXISTS (SELECT 1 FROM b)
    ORDER BY batch_index
    LIMIT sqlc.arg(lookahead)::int
), waiting AS (
    SELECT a.queue, min(a.batch_index)::int AS from_index
    FROM ahead a LEFT JOIN queues q ON q.environment_id = (SELECT env FROM b) AND q.name = a.queue
    WHERE q.paused OR coalesce(q.override_limit, q.base_limit, a.own_limit) IS NOT NULL
    GROUP BY a.queue
), registered AS (
    INSERT INTO queue_waiters (environment_id, queue, batch_id, from_index)
    SELECT b.env, w.queue, sqlc.arg(batch_id)::text, w.from_index FROM waiting w, b
    ON CONFLICT (environment_id, queue, batch_id) DO UPDATE SET from_index = excluded.from_index, since = now()
    RETURNING 1
)
SELECT w.from_index, w.queue::text AS queue FROM waiting w ORDER BY w.from_index LIMIT 1;

-- name: WakeQueueWaiters :many
-- After RecordResults, under the queue lock: the runs at idx of the batch
-- ended and freed their slots; removes and returns the other batches
-- waiting for one of their queues (they are signalled to claim again).
DELETE FROM queue_waiters w
USING (SELECT DISTINCT r.environment_id, coalesce(r.options -> 'queue' ->> 'name', 'task/' || r.task) AS queue
       FROM runs r
       WHERE r.batch_id = sqlc.arg(batch_id)::text AND r.batch_index = ANY (sqlc.arg(idx)::int[])) f
WHERE w.environment_id = f.environment_id AND w.queue = f.queue AND w.batch_id <> sqlc.arg(batch_id)::text
RETURNING w.batch_id, w.from_index;

-- name: TakeQueueWaiters :many
-- Removes and returns the batches waiting for a queue (the API resumed it
-- or changed its limit).
DELETE FROM queue_waiters WHERE environment_id = @environment_id AND queue = @queue
RETURNING batch_id, from_index;

-- name: GetQueue :one
-- A queue of an environment by name, with its slots held (running) and
-- its runs waiting in unfinished batches (queued). A queue without a row
-- comes back with its derived id, no limit and not paused.
WITH q AS (
    SELECT sqlc.arg(environment_id)::bigint AS environment_id, sqlc.arg(name)::text AS name
)
SELECT coalesce(r.id, 'queue_' || substr(md5(q.environment_id::text || '/' || q.name), 1, 24))::text AS id,
       q.name, r.base_limit, r.override_limit, r.overridden_at, coalesce(r.paused, false)::boolean AS paused,
       (SELECT count(*) FROM runs x
        WHERE x.environment_id = q.environment_id AND x.claimed_by IS NOT NULL AND x.status IN ('QUEUED', 'EXECUTING')
          AND coalesce(x.options -> 'queue' ->> 'name', 'task/' || x.task) = q.name)::int AS running,
       (SELECT count(*) FROM batches bt JOIN runs x ON x.batch_id = bt.id
        WHERE bt.environment_id = q.environment_id AND bt.status IN ('PENDING', 'PROCESSING')
          AND x.status IN ('QUEUED', 'EXECUTING') AND x.claimed_by IS NULL
          AND coalesce(x.options -> 'queue' ->> 'name', 'task/' || x.task) = q.name)::int AS queued
FROM q LEFT JOIN queues r ON r.environment_id = q.environment_id AND r.name = q.name;

-- name: QueueNameByID :one
SELECT name FROM queues WHERE environment_id = @environment_id AND id = @id;

-- name: ListQueues :many
-- A page of an environment's queues that have a row (a limit seen, or
-- paused or overridden through the API), by name, with GetQueue's counts:
-- the runs waiting are counted in one pass over the open runs of the
-- environment's unfinished batches, for the whole page.
WITH page AS (
    SELECT id, name, base_limit, override_limit, overridden_at, paused
    FROM queues WHERE environment_id = sqlc.arg(environment_id)::bigint
    ORDER BY name
    LIMIT sqlc.arg(max_rows)::int OFFSET sqlc.arg(skip)::int
), waiting AS (
    SELECT coalesce(x.options -> 'queue' ->> 'name', 'task/' || x.task) AS queue, count(*) AS n
    FROM batches bt JOIN runs x ON x.batch_id = bt.id
    WHERE bt.environment_id = sqlc.arg(environment_id)::bigint AND bt.status IN ('PENDING', 'PROCESSING')
      AND x.status IN ('QUEUED', 'EXECUTING') AND x.claimed_by IS NULL
      AND EXISTS (SELECT 1 FROM page)
    GROUP BY 1
)
SELECT coalesce(p.id, '')::text AS id, p.name, p.base_limit, p.override_limit, p.overridden_at, p.paused,
       (SELECT count(*) FROM runs x
        WHERE x.environment_id = sqlc.arg(environment_id)::bigint AND x.claimed_by IS NOT NULL AND x.status IN ('QUEUED', 'EXECUTING')
          AND coalesce(x.options -> 'queue' ->> 'name', 'task/' || x.task) = p.name)::int AS running,
       coalesce((SELECT w.n FROM waiting w WHERE w.queue = p.name), 0)::int AS queued
FROM page p
ORDER BY p.name;

-- name: CountQueues :one
SELECT count(*)::int AS n FROM queues WHERE environment_id = @environment_id;

-- name: PauseQueue :exec
INSERT INTO queues (environment_id, name, paused) VALUES (@environment_id, @name, @paused)
ON CONFLICT (environment_id, name) DO UPDATE SET paused = excluded.paused, updated_at = now();

-- name: OverrideQueueLimit :exec
-- Sets (a number) or clears (NULL) the queue's override of its limit.
INSERT INTO queues (environment_id, name, override_limit, overridden_at)
VALUES (@environment_id, @name, sqlc.narg(override_limit)::int,
        CASE WHEN sqlc.narg(override_limit)::int IS NULL THEN NULL ELSE now() END)
ON CONFLICT (environment_id, name) DO UPDATE
SET override_limit = excluded.override_limit, overridden_at = excluded.overridden_at, updated_at = now();
