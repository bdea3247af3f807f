-- +goose Up
-- Why the batch's parent workflow was not signalled (it was not running,
-- or did not carry the search attribute BatchEnv equal to the batch's
-- environment); NULL when it was signalled or none was asked for.
SET LOCAL lock_timeout = '10s';
ALTER TABLE batches ADD COLUMN parent_refused text;

-- +goose Down
ALTER TABLE batches DROP COLUMN parent_refused;
