-- +goose Up
-- runs_here is set by the seal of a small batch whose BatchIngest workflow
-- executes the runs itself (workflows/ingest changeRunsHere): the batch has
-- no BatchRuns until a replay starts one. The status answer names the
-- workflow that executes the runs from it. A constant default: no rewrite.
ALTER TABLE batches ADD COLUMN runs_here boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE batches DROP COLUMN runs_here;
