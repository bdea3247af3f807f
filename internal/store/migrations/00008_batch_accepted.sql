-- +goose Up
-- When every index of a PENDING batch was durably accepted (signalled to
-- its workflow) and the seal was not reported within the Phase 2 wait (no
-- worker running): Phase 2 answered sealed:true, and GET reports it so.
ALTER TABLE batches ADD COLUMN accepted_at timestamptz;

-- +goose Down
ALTER TABLE batches DROP COLUMN accepted_at;
