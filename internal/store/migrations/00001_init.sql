-- +goose Up

-- An environment isolates tenants: every key, batch and run belongs to one.
CREATE TABLE environments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored only as SHA-256 hashes.
CREATE TABLE api_keys (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment_id bigint      NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    key_hash       bytea       NOT NULL UNIQUE,
    key_prefix     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

CREATE TABLE batches (
    id                          text        PRIMARY KEY,
    environment_id              bigint      NOT NULL REFERENCES environments (id),
    run_count                   integer     NOT NULL CHECK (run_count > 0),
    status                      text        NOT NULL DEFAULT 'PENDING'
                                            CHECK (status IN ('PENDING', 'PROCESSING', 'ABORTED')),
    sealed                      boolean     NOT NULL DEFAULT false,
    idempotency_key             text,
    idempotency_key_options     jsonb,
    task_identifiers            text[],
    parent_run_id               text,
    resume_parent_on_completion boolean     NOT NULL DEFAULT false,
    abort_reason                text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    sealed_at                   timestamptz,
    aborted_at                  timestamptz,
    -- Sealed and PROCESSING go together.
    CONSTRAINT batches_sealed_means_processing CHECK (sealed = (status = 'PROCESSING'))
);

-- A repeated Phase 1 with the same idempotency key in an environment finds
-- the first batch.
CREATE UNIQUE INDEX batches_environment_idempotency_key
    ON batches (environment_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX batches_environment_created ON batches (environment_id, created_at DESC);
CREATE INDEX batches_pending_created ON batches (created_at) WHERE status = 'PENDING';

-- One row per batch item. The primary key is the dedup key: a retried
-- chunk inserts nothing twice. The run id is derived from it.
CREATE TABLE runs (
    batch_id        text        NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    batch_index     integer     NOT NULL CHECK (batch_index >= 0),
    id              text        GENERATED ALWAYS AS ('run_' || substr(batch_id, 7) || '_' || batch_index) STORED,
    environment_id  bigint      NOT NULL,
    task            text        NOT NULL,
    -- Inline packet data, or the object key when payload_type is application/store.
    payload         text,
    payload_type    text        NOT NULL,
    options         jsonb,
    status          text        NOT NULL CHECK (status IN ('QUEUED', 'FAILED', 'CANCELED')),
    error_code      text,
    error_message   text,
    -- Batch creation time + index milliseconds: order never depends on arrival.
    queue_timestamp timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, batch_index),
    CONSTRAINT runs_failed_has_error CHECK ((status = 'FAILED') = (error_code IS NOT NULL) OR status = 'CANCELED')
);

-- A run consumer takes an environment's queued runs in queue order, per task.
CREATE INDEX runs_queued ON runs (environment_id, task, queue_timestamp) WHERE status = 'QUEUED';

-- +goose Down
DROP TABLE runs;
DROP TABLE batches;
DROP TABLE api_keys;
DROP TABLE environments;
