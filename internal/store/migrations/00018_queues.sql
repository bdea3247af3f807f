-- +goose NO TRANSACTION
-- +goose Up
-- Queues with concurrency limits (trigger.dev's queues, V1 semantics).
-- A run's queue is options.queue.name, or "task/<task>" (the task's own
-- queue) when it names none; its concurrency key is options.concurrencyKey
-- ("" for none). A queue with a limit lets at most that many runs of each
-- (queue, key) hold a slot at once, across every batch of the environment:
-- a slot is held by a run a dispatch step claimed and that is not final
-- (QUEUED and dispatched, or EXECUTING), so a slot is free again as soon as
-- the run's outcome is recorded, and nothing is kept that could leak.
--
-- Queries spell both expressions exactly as runs_queue_slots does (below),
-- so that the index serves them.
--
-- A row exists for a queue that some run named with a concurrencyLimit
-- (base_limit, the last one seen by a claim) or that the API paused or
-- overrode. Its id is derived from the environment and name, so a queue
-- without a row still has one.
CREATE TABLE IF NOT EXISTS queues (
    environment_id bigint      NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    name           text        NOT NULL,
    id             text        GENERATED ALWAYS AS ('queue_' || substr(md5(environment_id::text || '/' || name), 1, 24)) STORED,
    base_limit     integer     CHECK (base_limit >= 0),
    override_limit integer     CHECK (override_limit >= 0),
    overridden_at  timestamptz,
    paused         boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment_id, name)
);
CREATE UNIQUE INDEX IF NOT EXISTS queues_id ON queues (id);

-- BatchRuns workflows whose last claim left runs of a queue waiting for a
-- slot (full or paused): a dispatch step that frees a slot of the queue, or
-- the API resuming it, signals them (runs-ready) and removes the row.
CREATE TABLE IF NOT EXISTS queue_waiters (
    environment_id bigint      NOT NULL,
    queue          text        NOT NULL,
    batch_id       text        NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    from_index     integer     NOT NULL DEFAULT 0,
    since          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment_id, queue, batch_id)
);
CREATE INDEX IF NOT EXISTS queue_waiters_batch ON queue_waiters (batch_id);

-- The slots held, by environment, queue and key: only claimed open runs
-- (as runs_claimed_only), so its size is the runs in flight. Built
-- concurrently: runs is the largest table; a build that failed halfway
-- leaves an invalid index behind, so it is dropped first.
DROP INDEX CONCURRENTLY IF EXISTS runs_queue_slots;
CREATE INDEX CONCURRENTLY runs_queue_slots
    ON runs (environment_id, (coalesce(options -> 'queue' ->> 'name', 'task/' || task)),
             (coalesce(options ->> 'concurrencyKey', '')))
    WHERE claimed_by IS NOT NULL AND status IN ('QUEUED', 'EXECUTING');

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS runs_queue_slots;
DROP TABLE IF EXISTS queue_waiters;
DROP TABLE IF EXISTS queues;
