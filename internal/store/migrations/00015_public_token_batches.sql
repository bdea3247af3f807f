-- +goose Up
-- The batches public tokens created: the tokens the trigger.dev SDK signs
-- (auth.createTriggerPublicToken / createBatchTriggerPublicToken), which
-- stream the items of the batches they created. token_hash is the SHA-256
-- of the token (the SDK signs no jti). A one-time-use token (one_time)
-- creates one batch: the partial unique index lets exactly one creation use
-- it. expires_at is the token's expiry, after which its rows serve no
-- purpose.
CREATE TABLE public_token_batches (
    token_hash     bytea       NOT NULL,
    batch_id       text        NOT NULL,
    environment_id bigint      NOT NULL,
    one_time       boolean     NOT NULL,
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_hash, batch_id)
);
CREATE UNIQUE INDEX public_token_batches_one_time ON public_token_batches (token_hash) WHERE one_time;

-- +goose Down
DROP TABLE public_token_batches;
