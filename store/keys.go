package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"time"

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

// Sealer seals API key secrets at rest (sealbox.Box).
type Sealer interface {
	Seal(plain, additional []byte) []byte
	Open(sealed, additional []byte) ([]byte, error)
}

// UseSealer makes CreateAPIKey keep each key's secret sealed under s (for
// verifying tokens the trigger.dev SDK signs with the key). Without one,
// keys are stored as hashes only.
func (s *Store) UseSealer(sealer Sealer) { s.sealer = sealer }

// CreateAPIKey issues a new random key for env and stores its SHA-256 hash
// (the lookup) and, with a Sealer, its sealed secret. The key is returned
// once; it is never stored in plain text.
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
	var sealed []byte
	if s.sealer != nil {
		sealed = s.sealer.Seal([]byte(key), hash[:])
	}
	var id int64
	if err := s.pool.QueryRow(ctx, s.q.get("insert_api_key"), env.ID, hash[:], key[:8], sealed).Scan(&id); err != nil {
		return "", fmt.Errorf("store: insert API key: %w", err)
	}
	return key, nil
}

// Authenticate returns the environment of an API key, or ErrNotFound for an
// unknown or revoked key.
func (s *Store) Authenticate(ctx context.Context, key string) (Environment, error) {
	e, _, err := s.AuthenticateKey(ctx, key)
	return e, err
}

// AuthenticateKey is Authenticate that also returns the key's id.
func (s *Store) AuthenticateKey(ctx context.Context, key string) (Environment, int64, error) {
	hash := sha256.Sum256([]byte(key))
	var stored []byte
	var e Environment
	var id int64
	err := s.pool.QueryRow(ctx, s.q.get("lookup_api_key"), hash[:]).Scan(&stored, &id, &e.ID, &e.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Environment{}, 0, ErrNotFound
	}
	if err != nil {
		return Environment{}, 0, fmt.Errorf("store: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(stored, hash[:]) != 1 {
		return Environment{}, 0, ErrNotFound
	}
	return e, id, nil
}

// KeySecret is an active API key's secret, opened from its sealed copy.
type KeySecret struct {
	ID     int64
	Secret []byte
}

// EnvironmentKeySecrets returns the secrets of envID's active keys that
// have a sealed copy (the keys that can have signed an SDK token), and the
// environment.
func (s *Store) EnvironmentKeySecrets(ctx context.Context, envID int64) (Environment, []KeySecret, error) {
	env := Environment{ID: envID}
	if s.sealer == nil {
		return env, nil, nil
	}
	rows, err := s.pool.Query(ctx, s.q.get("environment_key_secrets"), envID)
	if err != nil {
		return env, nil, fmt.Errorf("store: key secrets: %w", err)
	}
	var out []KeySecret
	var id int64
	var hash, sealed []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &hash, &sealed, &env.Name}, func() error {
		plain, err := s.sealer.Open(sealed, hash)
		if err != nil {
			return fmt.Errorf("key %d: %w", id, err)
		}
		out = append(out, KeySecret{ID: id, Secret: plain})
		return nil
	})
	if err != nil {
		return env, nil, fmt.Errorf("store: key secrets: %w", err)
	}
	return env, out, nil
}

// ActiveKeyEnvironment returns the environment of an active key by id, or
// ErrNotFound for an unknown or revoked one.
func (s *Store) ActiveKeyEnvironment(ctx context.Context, id int64) (Environment, error) {
	var e Environment
	err := s.pool.QueryRow(ctx, s.q.get("active_key_environment"), id).Scan(&e.ID, &e.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Environment{}, ErrNotFound
	}
	if err != nil {
		return Environment{}, fmt.Errorf("store: key %d: %w", id, err)
	}
	return e, nil
}

// APIKey describes a key without its secret.
type APIKey struct {
	ID        int64
	Prefix    string
	Env       string
	CreatedAt time.Time
	RevokedAt *time.Time
	// Sealed reports whether its secret is kept (SDK-signed tokens verify).
	Sealed bool
}

// ListAPIKeys lists the keys of environment env ("" for every one).
func (s *Store) ListAPIKeys(ctx context.Context, env string) ([]APIKey, error) {
	var name *string
	if env != "" {
		name = &env
	}
	rows, err := s.pool.Query(ctx, s.q.get("list_api_keys"), name)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		return k, row.Scan(&k.ID, &k.Prefix, &k.Env, &k.CreatedAt, &k.RevokedAt, &k.Sealed)
	})
}

// RevokeAPIKey revokes a key by id: it and every token it signed stop
// working. Revoking a revoked key gives ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, s.q.get("revoke_api_key"), id)
	if err != nil {
		return fmt.Errorf("store: revoke key %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
