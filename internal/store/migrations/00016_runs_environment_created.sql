-- +goose NO TRANSACTION
-- +goose Up
-- runs.list without a batch lists an environment's runs newest first,
-- keyset-paged on (created_at, batch_id, batch_index): EachEnvRun reads
-- this index backwards from the cursor, so a page costs the same at any
-- depth. Built concurrently: runs is the largest table. A build that
-- failed halfway leaves an invalid index behind, so it is dropped first
-- rather than skipped with IF NOT EXISTS.
DROP INDEX CONCURRENTLY IF EXISTS runs_environment_created;
CREATE INDEX CONCURRENTLY runs_environment_created ON runs (environment_id, created_at, batch_id, batch_index);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS runs_environment_created;
