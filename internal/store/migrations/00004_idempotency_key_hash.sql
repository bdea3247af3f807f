-- +goose Up
-- An idempotency key may be 2,048 characters of up to 4 bytes each: too
-- long for a btree entry (2,704 bytes). Uniqueness moves to its SHA-256.
-- convert_to is only STABLE (it looks the encoding up); with a fixed
-- encoding name the function is immutable in fact, as an index needs.
-- +goose StatementBegin
CREATE FUNCTION streambatch_key_hash(key text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN sha256(convert_to(key, 'UTF8'));
-- +goose StatementEnd
ALTER TABLE batches ADD COLUMN idempotency_key_hash bytea
    GENERATED ALWAYS AS (streambatch_key_hash(idempotency_key)) STORED;
CREATE UNIQUE INDEX batches_environment_idempotency_key_hash
    ON batches (environment_id, idempotency_key_hash) WHERE idempotency_key IS NOT NULL;
DROP INDEX batches_environment_idempotency_key;

-- +goose Down
CREATE UNIQUE INDEX batches_environment_idempotency_key
    ON batches (environment_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX batches_environment_idempotency_key_hash;
ALTER TABLE batches DROP COLUMN idempotency_key_hash;
DROP FUNCTION streambatch_key_hash(text);
