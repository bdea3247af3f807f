-- name: TakeCreateTokens :one
-- Takes n tokens (<= burst) of an environment's creation bucket, refilled
-- at rate tokens per second since its last take, up to burst: one
-- statement, so concurrent takes from any replica serialise on the row.
-- A first take finds a full bucket. now() is the statement's start, and a
-- take that waited for the row lock behind a later one refills nothing.
-- Returns whether it was granted and the tokens left.
INSERT INTO create_buckets AS b (environment_id, tokens, updated_at, granted)
VALUES (sqlc.arg(environment_id), sqlc.arg(burst)::float8 - sqlc.arg(n)::float8, now(), true)
ON CONFLICT (environment_id) DO UPDATE SET
    granted = least(sqlc.arg(burst)::float8, b.tokens + sqlc.arg(rate)::float8 * greatest(0, extract(epoch FROM now() - b.updated_at)::float8)) >= sqlc.arg(n)::float8,
    tokens = least(sqlc.arg(burst)::float8, b.tokens + sqlc.arg(rate)::float8 * greatest(0, extract(epoch FROM now() - b.updated_at)::float8))
             - CASE WHEN least(sqlc.arg(burst)::float8, b.tokens + sqlc.arg(rate)::float8 * greatest(0, extract(epoch FROM now() - b.updated_at)::float8)) >= sqlc.arg(n)::float8
                    THEN sqlc.arg(n)::float8 ELSE 0 END,
    updated_at = greatest(b.updated_at, now())
RETURNING granted, tokens;

-- name: TakeReadSlot :one
-- Takes a free slot (none, or its lease expired) of an environment's
-- slots slots of heavy reads for holder until now() + ttl_seconds; no
-- row when all are held. The slot is picked at random among the free
-- ones, so concurrent takes seldom collide; when two do, the primary key
-- lets one win and the other finds no row (it answers "try again").
INSERT INTO read_slots AS r (environment_id, slot, holder, expires_at)
SELECT @environment_id::bigint, s, @holder::text, now() + make_interval(secs => @ttl_seconds::float8)
FROM generate_series(0, sqlc.arg(slots)::int - 1) AS s
WHERE NOT EXISTS (SELECT 1 FROM read_slots h WHERE h.environment_id = @environment_id::bigint AND h.slot = s AND h.expires_at > now())
ORDER BY random()
LIMIT 1
ON CONFLICT (environment_id, slot) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE r.expires_at <= now()
RETURNING slot;

-- name: RenewReadSlot :exec
UPDATE read_slots SET expires_at = now() + make_interval(secs => @ttl_seconds::float8)
WHERE environment_id = @environment_id AND slot = @slot AND holder = @holder;

-- name: ReleaseReadSlot :exec
DELETE FROM read_slots WHERE environment_id = @environment_id AND slot = @slot AND holder = @holder;
