-- +goose Up
-- The foreign key made every inserted run lock its batch row (FOR KEY
-- SHARE), which serialised concurrent chunk inserts on one row and cost
-- more than the insert itself. Runs are only ever inserted by joining their
-- batch (insert_runs), and batches are never deleted, so the key guarded
-- nothing the code does not already guarantee.
ALTER TABLE runs DROP CONSTRAINT runs_batch_id_fkey;

-- +goose Down
ALTER TABLE runs ADD CONSTRAINT runs_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES batches (id) ON DELETE CASCADE;
