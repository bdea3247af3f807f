-- +goose NO TRANSACTION
-- +goose Up
-- Realtime subscriptions (GET /realtime/v1/…) read the runs that changed
-- since a client's offset, a PostgreSQL snapshot: change_xid is the id of
-- the transaction that wrote the run's current row version (its insert or
-- its last update), and a run changed since snapshot S exactly when
-- change_xid is not visible in S (pg_visible_in_snapshot), whatever order
-- concurrent writers commit in. Runs written before this migration read 0,
-- visible in every snapshot: unchanged since.
--
-- The column is added with a constant default (no rewrite), then its
-- default becomes the writing transaction's id for new rows (COPY and
-- INSERT pay no trigger); a BEFORE UPDATE trigger stamps every update that
-- changes a column a subscriber sees, so no UPDATE statement can forget it
-- (an update that writes the same values, such as the periodic refresh of
-- executing runs, or that changes only bookkeeping such as claimed_by or
-- attempts, is no change to subscribers). A column the realtime rows come
-- to show must be added to the trigger's WHEN list. The ALTERs need the table's exclusive
-- lock: give up after 10 s rather than queue every query behind a long
-- transaction (migrate then fails and is run again).
SET lock_timeout = '10s';
ALTER TABLE runs ADD COLUMN IF NOT EXISTS change_xid bigint NOT NULL DEFAULT 0;
ALTER TABLE runs ALTER COLUMN change_xid SET DEFAULT (pg_current_xact_id()::text::bigint);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION runs_stamp_change_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS runs_change_xid ON runs;
CREATE TRIGGER runs_change_xid BEFORE UPDATE ON runs
    FOR EACH ROW WHEN ((OLD.status, OLD.options, OLD.output, OLD.output_type, OLD.error_code, OLD.error_message,
                        OLD.started_at, OLD.completed_at, OLD.delay_until, OLD.task, OLD.payload_type)
                       IS DISTINCT FROM
                       (NEW.status, NEW.options, NEW.output, NEW.output_type, NEW.error_code, NEW.error_message,
                        NEW.started_at, NEW.completed_at, NEW.delay_until, NEW.task, NEW.payload_type))
    EXECUTE FUNCTION runs_stamp_change_xid();
RESET lock_timeout;

-- A batch's changes since an offset (subscribeToBatch), keyset-paged on
-- (change_xid, batch_index).
DROP INDEX CONCURRENTLY IF EXISTS runs_batch_change;
CREATE INDEX CONCURRENTLY runs_batch_change ON runs (batch_id, change_xid, batch_index);
-- An environment's tagged runs' changes (subscribeToRunsWithTag): only runs
-- with tags enter it, so untagged runs cost it nothing.
DROP INDEX CONCURRENTLY IF EXISTS runs_tagged_change;
CREATE INDEX CONCURRENTLY runs_tagged_change ON runs (environment_id, change_xid, batch_id, batch_index)
    WHERE jsonb_exists(options, 'tags');

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS runs_tagged_change;
DROP INDEX CONCURRENTLY IF EXISTS runs_batch_change;
DROP TRIGGER IF EXISTS runs_change_xid ON runs;
DROP FUNCTION IF EXISTS runs_stamp_change_xid();
ALTER TABLE runs DROP COLUMN IF EXISTS change_xid;
