// Package store owns streambatch's PostgreSQL state: the pgx pool, the
// embedded numbered migrations (applied with goose under an advisory lock)
// and every query, which live in queries.sql.
//
// It knows nothing of HTTP, Temporal or S3. Callers get typed results and
// the sentinel errors in errors.go.
package store
