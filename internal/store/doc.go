// Package store owns streambatch's PostgreSQL state: the pgx pool, the
// embedded numbered migrations (applied with goose under an advisory lock)
// and every query. The queries live in queries/<table>.sql; sqlc turns them
// into typed Go in internal/db (`make sqlc`), which only this package may
// call (internal/), and this package's files, one per table (keys.go,
// batches.go, chunks.go, runs.go with execution.go, limits.go, sweep.go),
// call it. lifecycle.go declares the batch lifecycle: every change of a
// batch's status goes through one of its transitions.
//
// It knows nothing of HTTP, Temporal or S3. Callers get typed results and
// the sentinel errors in errors.go.
package store
