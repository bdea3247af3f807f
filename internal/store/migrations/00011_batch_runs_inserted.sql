-- +goose Up
-- How many runs the batch has, kept by the transactions that insert them,
-- so that the seal need not count the batch's runs (112 ms of PostgreSQL
-- per 100,000). The seal still counts when this falls short: batches
-- whose runs were inserted before this column, or by a worker of an
-- older version during a rolling upgrade.
-- A constant default: no rewrite, but the ALTER needs the table's exclusive
-- lock; give up after 10 s rather than queue every query behind a long
-- transaction (migrate then fails and is run again).
SET LOCAL lock_timeout = '10s';
ALTER TABLE batches ADD COLUMN runs_inserted integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE batches DROP COLUMN runs_inserted;
