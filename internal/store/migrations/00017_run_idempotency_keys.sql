-- +goose Up
-- Item idempotency keys (trigger.dev's options.idempotencyKey): a key names
-- one run per environment and task until it expires, is reset, or its run
-- fails (FAILED, EXPIRED, TIMED_OUT). The primary key is what makes two
-- chunks that carry the same key (two batches, two API replicas, two
-- workers) resolve to one run: the second insert waits for the first and
-- finds its row (store.InsertRuns). The key itself is not kept, only its
-- SHA-256 (a key may be 2,048 characters of up to 4 bytes, too long for a
-- btree entry).
CREATE TABLE run_idempotency_keys (
    environment_id bigint      NOT NULL,
    key_hash       bytea       NOT NULL,
    task           text        NOT NULL,
    -- The run the key names.
    batch_id       text        NOT NULL,
    batch_index    integer     NOT NULL,
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (environment_id, key_hash, task)
);
-- The sweep deletes expired keys oldest first. BRIN: keys are inserted
-- about in the order they expire (most take the default TTL), and a BRIN
-- entry costs the insert of a keyed chunk next to nothing, where a btree
-- would add an index entry per key.
CREATE INDEX run_idempotency_keys_expires ON run_idempotency_keys USING brin (expires_at);

-- An item whose key named an existing run becomes a CACHED row: it holds
-- its batch's index (the seal counts it) and the id of the run it names;
-- it never executes (no query that claims, cancels or replays runs takes
-- CACHED). The new columns are nullable without a default (no rewrite);
-- the constraints are NOT VALID (no scan under the table's exclusive
-- lock): every existing row passes them, and new rows are checked. Give up
-- after 10 s rather than queue every query behind a long transaction.
SET LOCAL lock_timeout = '10s';
ALTER TABLE runs ADD COLUMN cached_run_id text;
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('QUEUED', 'DELAYED', 'EXECUTING', 'COMPLETED', 'FAILED', 'CANCELED', 'EXPIRED', 'TIMED_OUT', 'CACHED')) NOT VALID;
ALTER TABLE runs ADD CONSTRAINT runs_cached_names_run
    CHECK ((status = 'CACHED') = (cached_run_id IS NOT NULL)) NOT VALID;
-- How many of a batch's runs are CACHED: reads that list a batch's runs
-- look for the runs they name only when there are any.
ALTER TABLE batches ADD COLUMN runs_cached integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE batches DROP COLUMN runs_cached;
DELETE FROM runs WHERE status = 'CACHED';
ALTER TABLE runs DROP CONSTRAINT runs_cached_names_run;
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('QUEUED', 'DELAYED', 'EXECUTING', 'COMPLETED', 'FAILED', 'CANCELED', 'EXPIRED', 'TIMED_OUT'));
ALTER TABLE runs DROP COLUMN cached_run_id;
DROP TABLE run_idempotency_keys;
