-- name: UpsertEnvironment :one
INSERT INTO environments (name) VALUES (@name)
ON CONFLICT (name) DO UPDATE SET name = excluded.name
RETURNING id, name;

-- name: InsertAPIKey :one
INSERT INTO api_keys (environment_id, key_hash, key_prefix, secret_sealed)
VALUES (@environment_id, @key_hash, @key_prefix, @secret_sealed)
RETURNING id;

-- name: LookupAPIKey :one
SELECT k.key_hash, k.id AS key_id, e.id AS env_id, e.name AS env_name
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE k.key_hash = @key_hash AND k.revoked_at IS NULL;

-- name: EnvironmentKeySecrets :many
-- The sealed secrets of an environment's active keys, with their hashes.
SELECT k.id, k.key_hash, k.secret_sealed, e.name AS env_name
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE k.environment_id = @environment_id AND k.revoked_at IS NULL AND k.secret_sealed IS NOT NULL;

-- name: ActiveKeyEnvironment :one
SELECT e.id, e.name
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE k.id = @key_id AND k.revoked_at IS NULL;

-- name: ListAPIKeys :many
-- The keys of environment env (NULL: every environment).
SELECT k.id, k.key_prefix, e.name AS env_name, k.created_at, k.revoked_at,
       (k.secret_sealed IS NOT NULL)::boolean AS sealed
FROM api_keys k JOIN environments e ON e.id = k.environment_id
WHERE (sqlc.narg(env)::text IS NULL OR e.name = sqlc.narg(env))
ORDER BY k.id;

-- name: RevokeAPIKey :execrows
UPDATE api_keys SET revoked_at = now() WHERE id = @id AND revoked_at IS NULL;
