package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"

	"github.com/jackc/pgx/v5"
)

// Environment is a tenant: keys, batches and runs belong to exactly one.
type Environment struct {
	ID   int64
	Name string
}

// EnsureEnvironment returns the environment called name, creating it if
// needed. The name must satisfy batch.ValidateEnvName (checked by callers).
func (s *Store) EnsureEnvironment(ctx context.Context, name string) (Environment, error) {
	var e Environment
	err := s.pool.QueryRow(ctx, s.q.get("upsert_environment"), name).Scan(&e.ID, &e.Name)
	if err != nil {
		return e, fmt.Errorf("store: environment %q: %w", name, err)
	}
	return e, nil
}

// KeyPrefix starts every API key streambatch issues.
const KeyPrefix = "sb_"

const keyAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// CreateAPIKey issues a new random key for env and stores only its SHA-256
// hash. The key is returned once; it cannot be recovered later.
func (s *Store) CreateAPIKey(ctx context.Context, env Environment) (string, error) {
	b := make([]byte, 40)
	for k := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(keyAlphabet))))
		if err != nil {
			return "", err
		}
		b[k] = keyAlphabet[n.Int64()]
	}
	key := KeyPrefix + string(b)
	hash := sha256.Sum256([]byte(key))
	if _, err := s.pool.Exec(ctx, s.q.get("insert_api_key"), env.ID, hash[:], key[:8]); err != nil {
		return "", fmt.Errorf("store: insert API key: %w", err)
	}
	return key, nil
}

// Authenticate returns the environment of an API key, or ErrNotFound for an
// unknown or revoked key.
func (s *Store) Authenticate(ctx context.Context, key string) (Environment, error) {
	hash := sha256.Sum256([]byte(key))
	var stored []byte
	var e Environment
	err := s.pool.QueryRow(ctx, s.q.get("lookup_api_key"), hash[:]).Scan(&stored, &e.ID, &e.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Environment{}, ErrNotFound
	}
	if err != nil {
		return Environment{}, fmt.Errorf("store: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(stored, hash[:]) != 1 {
		return Environment{}, ErrNotFound
	}
	return e, nil
}
