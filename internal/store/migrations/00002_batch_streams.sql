-- +goose Up
-- Counts Phase 2 requests per batch: the first one knows nothing was
-- accepted before it and skips asking the workflow.
ALTER TABLE batches ADD COLUMN streams integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE batches DROP COLUMN streams;
