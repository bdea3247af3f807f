-- The runs that changed since a snapshot: what realtime subscriptions read
-- (changes.go). A run changed since snapshot lower when the transaction
-- that wrote its current row version (change_xid) is not visible in lower.
-- One subscription round reads the changes visible in snapshot upper (the
-- first page's own snapshot) page by page, keyset on change_xid and the
-- run's key; changes committed after upper wait for the next round. Each
-- query returns upper as text on every row, and one row of NULL run
-- columns when no run changed.

-- name: BatchRunChanges :many
-- A batch's runs (or its run at batch_index) changed since lower (NULL:
-- every run) and visible in upper (NULL: this statement's snapshot), after
-- (after_xid, after_index): at most max_runs, and no more than fit in
-- max_bytes of stored payload, output, options and error message (the
-- first always comes); more tells whether runs remain beyond the page.
WITH u AS (SELECT coalesce(sqlc.narg(upper)::text::pg_snapshot, pg_current_snapshot()) AS snap)
SELECT u.snap::text AS upper,
       page.change_xid, page.batch_id, page.id, page.batch_index, page.task, page.status, page.payload_type,
       page.payload, page.options, page.error_code, page.error_message, page.created_at, page.output,
       page.output_type, page.attempts, page.started_at, page.completed_at, page.delay_until,
       (page.n < page.total)::boolean AS more
FROM u LEFT JOIN LATERAL (
    SELECT r.*,
           row_number() OVER w AS n,
           count(*) OVER () AS total,
           sum(coalesce(octet_length(r.payload), 0) + coalesce(octet_length(r.output), 0)
               + coalesce(pg_column_size(r.options), 0) + coalesce(octet_length(r.error_message), 0)) OVER w AS running
    FROM (SELECT * FROM runs
          WHERE runs.batch_id = @batch_id
            AND (sqlc.narg(batch_index)::int IS NULL OR runs.batch_index = sqlc.narg(batch_index)::int)
            AND (runs.change_xid, runs.batch_index) > (@after_xid::bigint, @after_index::int)
            AND (sqlc.narg(lower)::text IS NULL
                 OR NOT pg_visible_in_snapshot(runs.change_xid::text::xid8, sqlc.narg(lower)::text::pg_snapshot))
            AND pg_visible_in_snapshot(runs.change_xid::text::xid8, u.snap)
          ORDER BY runs.change_xid, runs.batch_index
          LIMIT sqlc.arg(max_runs)::int + 1) r
    WINDOW w AS (ORDER BY r.change_xid, r.batch_index ROWS UNBOUNDED PRECEDING)
) page ON page.n <= sqlc.arg(max_runs)::int AND (page.n = 1 OR page.running <= sqlc.arg(max_bytes)::bigint)
ORDER BY page.change_xid, page.batch_index;

-- name: TaggedRunChanges :many
-- BatchRunChanges over an environment's runs that carry any of tags and
-- were created at or after created_from, after (after_xid, after_batch,
-- after_index) in (change_xid, batch_id, batch_index) order.
WITH u AS (SELECT coalesce(sqlc.narg(upper)::text::pg_snapshot, pg_current_snapshot()) AS snap)
SELECT u.snap::text AS upper,
       page.change_xid, page.batch_id, page.id, page.batch_index, page.task, page.status, page.payload_type,
       page.payload, page.options, page.error_code, page.error_message, page.created_at, page.output,
       page.output_type, page.attempts, page.started_at, page.completed_at, page.delay_until,
       (page.n < page.total)::boolean AS more
FROM u LEFT JOIN LATERAL (
    SELECT r.*,
           row_number() OVER w AS n,
           count(*) OVER () AS total,
           sum(coalesce(octet_length(r.payload), 0) + coalesce(octet_length(r.output), 0)
               + coalesce(pg_column_size(r.options), 0) + coalesce(octet_length(r.error_message), 0)) OVER w AS running
    FROM (SELECT * FROM runs
          WHERE runs.environment_id = @environment_id
            AND jsonb_exists(runs.options, 'tags') AND jsonb_exists_any(runs.options -> 'tags', @tags::text[])
            AND runs.created_at >= @created_from::timestamptz
            AND (runs.change_xid, runs.batch_id, runs.batch_index)
                > (@after_xid::bigint, @after_batch::text, @after_index::int)
            AND (sqlc.narg(lower)::text IS NULL
                 OR NOT pg_visible_in_snapshot(runs.change_xid::text::xid8, sqlc.narg(lower)::text::pg_snapshot))
            AND pg_visible_in_snapshot(runs.change_xid::text::xid8, u.snap)
          ORDER BY runs.change_xid, runs.batch_id, runs.batch_index
          LIMIT sqlc.arg(max_runs)::int + 1) r
    WINDOW w AS (ORDER BY r.change_xid, r.batch_id, r.batch_index ROWS UNBOUNDED PRECEDING)
) page ON page.n <= sqlc.arg(max_runs)::int AND (page.n = 1 OR page.running <= sqlc.arg(max_bytes)::bigint)
ORDER BY page.change_xid, page.batch_id, page.batch_index;
