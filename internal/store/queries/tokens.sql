-- name: RecordTokenBatch :execrows
-- Records the batch a public token created; no row when the token is
-- one-time-use and created a batch before. Concurrent uses serialise on
-- the unique index: one inserts, the others find its row once it commits
-- (or insert, when it rolls back).
INSERT INTO public_token_batches (token_hash, batch_id, environment_id, one_time, expires_at)
VALUES (@token_hash, @batch_id, @environment_id, @one_time, @expires_at)
ON CONFLICT DO NOTHING;

-- name: TokenBatchTasks :one
-- The task identifiers of a batch of the environment the token created;
-- no row when it did not create it.
SELECT b.task_identifiers
FROM public_token_batches t JOIN batches b ON b.id = t.batch_id
WHERE t.token_hash = @token_hash AND t.batch_id = @batch_id AND b.environment_id = @environment_id;
