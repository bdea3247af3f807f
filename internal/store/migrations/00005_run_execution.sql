-- +goose Up
-- Runs execute (BatchRuns workflow, task workers on runs.<env>), batches
-- complete, outcomes are recorded.

ALTER TABLE batches DROP CONSTRAINT batches_status_check;
ALTER TABLE batches ADD CONSTRAINT batches_status_check
    CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'ABORTED'));
-- Sealed batches are PROCESSING, COMPLETED, or ABORTED after the seal.
ALTER TABLE batches DROP CONSTRAINT batches_sealed_means_processing;
ALTER TABLE batches ADD CONSTRAINT batches_sealed_state
    CHECK (CASE status WHEN 'PENDING' THEN NOT sealed
                       WHEN 'ABORTED' THEN true
                       ELSE sealed END);
ALTER TABLE batches
    ADD COLUMN completed_at       timestamptz,
    -- How many times the batch was replayed (failed runs executed again).
    ADD COLUMN replays            integer NOT NULL DEFAULT 0,
    -- When the parent workflow was told the batch ended (resumeParentOnCompletion).
    ADD COLUMN parent_notified_at timestamptz;

ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('QUEUED', 'DELAYED', 'EXECUTING', 'COMPLETED', 'FAILED', 'CANCELED', 'EXPIRED', 'TIMED_OUT'));
ALTER TABLE runs DROP CONSTRAINT runs_failed_has_error;
ALTER TABLE runs ADD CONSTRAINT runs_failed_has_error
    CHECK (status NOT IN ('FAILED', 'EXPIRED', 'TIMED_OUT') OR error_code IS NOT NULL);
ALTER TABLE runs
    -- The task's result: JSON text, or an object key (output_type application/store).
    ADD COLUMN output       text,
    ADD COLUMN output_type  text,
    -- Attempts made so far (all replays included); attempt_base is the value
    -- when the current dispatch began, so attempt k of it is attempt_base + k.
    ADD COLUMN attempts     integer NOT NULL DEFAULT 0,
    ADD COLUMN attempt_base integer NOT NULL DEFAULT 0,
    ADD COLUMN started_at   timestamptz,
    ADD COLUMN completed_at timestamptz,
    -- A DELAYED run may start at this time.
    ADD COLUMN delay_until  timestamptz,
    -- "<workflow run id>:<step>" of the BatchRuns step that dispatched the run.
    ADD COLUMN claimed_by   text;

-- Nothing consumed runs by environment and task; the dispatcher takes a
-- batch's open runs in index order and its delayed runs by time.
DROP INDEX runs_queued;
CREATE INDEX runs_open ON runs (batch_id, batch_index) WHERE status IN ('QUEUED', 'EXECUTING');
CREATE INDEX runs_delayed ON runs (batch_id, delay_until) WHERE status = 'DELAYED';
-- A retried dispatch step finds what it claimed.
CREATE INDEX runs_claimed ON runs (claimed_by) WHERE status IN ('QUEUED', 'EXECUTING');

-- +goose Down
DROP INDEX runs_claimed;
DROP INDEX runs_delayed;
DROP INDEX runs_open;
CREATE INDEX runs_queued ON runs (environment_id, task, queue_timestamp) WHERE status = 'QUEUED';
ALTER TABLE runs DROP COLUMN output, DROP COLUMN output_type, DROP COLUMN attempts, DROP COLUMN attempt_base,
    DROP COLUMN started_at, DROP COLUMN completed_at, DROP COLUMN delay_until, DROP COLUMN claimed_by;
ALTER TABLE runs DROP CONSTRAINT runs_failed_has_error;
ALTER TABLE runs ADD CONSTRAINT runs_failed_has_error
    CHECK ((status = 'FAILED') = (error_code IS NOT NULL) OR status = 'CANCELED');
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('QUEUED', 'FAILED', 'CANCELED'));
ALTER TABLE batches DROP COLUMN completed_at, DROP COLUMN replays, DROP COLUMN parent_notified_at;
ALTER TABLE batches DROP CONSTRAINT batches_sealed_state;
ALTER TABLE batches ADD CONSTRAINT batches_sealed_means_processing CHECK (sealed = (status = 'PROCESSING'));
ALTER TABLE batches DROP CONSTRAINT batches_status_check;
ALTER TABLE batches ADD CONSTRAINT batches_status_check CHECK (status IN ('PENDING', 'PROCESSING', 'ABORTED'));
