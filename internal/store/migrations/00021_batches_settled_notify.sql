-- +goose Up
-- A batch "settles" when its row leaves PENDING: sealed (PROCESSING, or
-- straight to COMPLETED) or aborted. The API's seal wait (the answer of
-- the Phase 2 request that completed a batch) listens on this channel
-- instead of polling the row: the notification carries the batch id and is
-- delivered when the settling transaction commits, whichever statement
-- settled it (the seal, an abort, a future one). One notification per
-- batch; the row's other updates do not fire it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION batches_notify_settled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('streambatch_batch_settled', NEW.id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS batches_settled ON batches;
CREATE TRIGGER batches_settled AFTER UPDATE OF status ON batches
    FOR EACH ROW WHEN (OLD.status = 'PENDING' AND NEW.status <> 'PENDING')
    EXECUTE FUNCTION batches_notify_settled();

-- +goose Down
DROP TRIGGER IF EXISTS batches_settled ON batches;
DROP FUNCTION IF EXISTS batches_notify_settled();
