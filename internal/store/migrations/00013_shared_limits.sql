-- +goose Up
-- Rate and concurrency limits shared by every API replica (they were per
-- process, so N replicas allowed N times the rate).

-- Each environment's token bucket for batch creation, counted in runs:
-- tokens as of updated_at; the refill since then is computed by the
-- statement that takes tokens, in one atomic UPDATE.
CREATE TABLE create_buckets (
    environment_id bigint           PRIMARY KEY,
    tokens         double precision NOT NULL,
    updated_at     timestamptz      NOT NULL,
    -- Whether the last take was granted (what the take statement returns).
    granted        boolean          NOT NULL DEFAULT true
);

-- Leases on each environment's slots of heavy reads in flight: a slot is
-- free when it has no row or its lease has expired, so a replica that dies
-- holding one frees it at expires_at (the holder renews its lease while
-- the read lasts).
CREATE TABLE read_slots (
    environment_id bigint      NOT NULL,
    slot           integer     NOT NULL,
    holder         text        NOT NULL,
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (environment_id, slot)
);

-- +goose Down
DROP TABLE read_slots;
DROP TABLE create_buckets;
