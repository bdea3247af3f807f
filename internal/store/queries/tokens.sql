-- name: UseOneTimeToken :execrows
-- Records the use of a one-time token; no row when it was used before.
-- Concurrent uses serialise on the primary key: one inserts, the others
-- find its row once it commits (or insert, when it rolls back).
INSERT INTO one_time_tokens (token_hash, environment_id, batch_id, expires_at)
VALUES (@token_hash, @environment_id, @batch_id, @expires_at)
ON CONFLICT (token_hash) DO NOTHING;
