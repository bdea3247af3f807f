-- +goose Up
-- When a run was dispatched to its task queue (claimed by a BatchRuns
-- step). A run dispatched but not yet started (QUEUED with claimed_by set)
-- is waiting for a task worker; the oldest claimed_at says since when
-- (GET /api/v3/batches/:id, streambatch_runs_waiting_for_worker). Runs
-- claimed by a worker of an older version during a rolling upgrade keep
-- NULL: they count as waiting without a time.
-- A nullable column without a default: no rewrite, no index to build, but
-- the ALTER needs the table's exclusive lock; give up after 10 s rather
-- than queue every query behind a long transaction (migrate then fails and
-- is run again).
SET LOCAL lock_timeout = '10s';
ALTER TABLE runs ADD COLUMN claimed_at timestamptz;

-- +goose Down
ALTER TABLE runs DROP COLUMN claimed_at;
