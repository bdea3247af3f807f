-- +goose Up
-- seal_deadline is when a batch must be sealed, set at its creation (now +
-- BATCH_SEAL_TIMEOUT). A batch's BatchIngest workflow starts with its first
-- chunk, not at the create: the workflow aborts the batch at this deadline,
-- and the sweeper (store.OverdueBatches) starts the workflow of a batch
-- that never received a chunk once the deadline passed, which then aborts
-- it. NULL for batches created before this migration: their workflow was
-- started by the create. A nullable column without a default: no rewrite.
ALTER TABLE batches ADD COLUMN seal_deadline timestamptz;

-- +goose Down
ALTER TABLE batches DROP COLUMN seal_deadline;
