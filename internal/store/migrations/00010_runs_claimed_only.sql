-- +goose NO TRANSACTION
-- +goose Up
-- The index a retried dispatch step finds its claims by held every open
-- run, so each new run (QUEUED, claimed_by NULL) cost an index entry that
-- no query reads: a third of the index work of every COPY. Only claimed
-- runs enter it now. Built concurrently: runs is the largest table. A
-- build that failed halfway leaves an invalid index behind, so it is
-- dropped first rather than skipped with IF NOT EXISTS.
DROP INDEX CONCURRENTLY IF EXISTS runs_claimed_only;
CREATE INDEX CONCURRENTLY runs_claimed_only ON runs (claimed_by)
    WHERE claimed_by IS NOT NULL AND status IN ('QUEUED', 'EXECUTING');
DROP INDEX CONCURRENTLY IF EXISTS runs_claimed;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS runs_claimed;
CREATE INDEX CONCURRENTLY runs_claimed ON runs (claimed_by) WHERE status IN ('QUEUED', 'EXECUTING');
DROP INDEX CONCURRENTLY IF EXISTS runs_claimed_only;
