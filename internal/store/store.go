package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// Store is the PostgreSQL state of streambatch. It is safe for concurrent
// use.
type Store struct {
	pool   *pgxpool.Pool
	q      *db.Queries
	sealer Sealer // seals API key secrets (nil: hashes only)
	// settled listens for batches leaving PENDING (WatchSettled).
	settled *settledHub
}

// Open connects a pool to databaseURL with at most maxConns connections
// (0 keeps pgx's default) and checks that the server answers.
func Open(ctx context.Context, databaseURL string, maxConns int) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{pool: pool, q: db.New(pool), settled: newSettledHub(cfg.ConnConfig)}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping PostgreSQL: %w", err)
	}
	return nil
}

// Close stops the settled listener and closes the pool.
func (s *Store) Close() {
	s.settled.close()
	s.pool.Close()
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// nullable returns v as a *T, nil when v is NULL (nil) or not a T: how
// store reads an aggregate, which sqlc types as any.
func nullable[T any](v any) *T {
	if t, ok := v.(T); ok {
		return &t
	}
	return nil
}

// deref returns *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
