-- +goose Up
-- When the sweeper last removed the objects a finished (sealed or aborted)
-- batch no longer references: packets of duplicate deliveries and failed
-- streams, staged chunks written after the seal or the abort.
ALTER TABLE batches ADD COLUMN swept_at timestamptz;
CREATE INDEX batches_unswept ON batches ((coalesce(sealed_at, aborted_at))) WHERE swept_at IS NULL;

-- +goose Down
DROP INDEX batches_unswept;
ALTER TABLE batches DROP COLUMN swept_at;
