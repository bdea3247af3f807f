-- +goose Up
-- The key's secret, sealed (AES-256-GCM under a key derived from
-- STREAMBATCH_JWT_SECRET, bound to key_hash): the trigger.dev SDK signs public
-- tokens with the API key itself, and verifying them needs it. The hash
-- stays the lookup; keys created before this have none (SDK-signed tokens
-- of those keys are refused; create a new key).
ALTER TABLE api_keys ADD COLUMN secret_sealed bytea;
CREATE INDEX api_keys_environment_active ON api_keys (environment_id) WHERE revoked_at IS NULL;

-- +goose Down
DROP INDEX api_keys_environment_active;
ALTER TABLE api_keys DROP COLUMN secret_sealed;
