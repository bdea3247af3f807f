-- +goose Up
-- The one-time-use public tokens the trigger.dev SDK signs
-- (auth.createTriggerPublicToken / createBatchTriggerPublicToken without
-- multipleUse) that created a batch: the primary key lets exactly one
-- creation use each token. token_hash is the SHA-256 of the token (the SDK
-- signs no jti); expires_at is the token's expiry, after which its row
-- serves no purpose.
CREATE TABLE one_time_tokens (
    token_hash     bytea       PRIMARY KEY,
    environment_id bigint      NOT NULL,
    batch_id       text        NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE one_time_tokens;
