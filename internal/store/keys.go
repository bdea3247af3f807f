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

	"github.com/streambatch/streambatch/internal/store/internal/db"
)

// Environment is a tenant: keys, batches and runs belong to exactly one.
type Environment struct {
	ID   int64
	Name string
}

// EnsureEnvironment returns the environment called name, creating it if
// needed. The name must satisfy batch.ValidateEnvName (checked by callers).
func (s *Store) EnsureEnvironment(ctx context.Context, name string) (Environment, error) {
	row, err := s.q.UpsertEnvironment(ctx, name)
	if err != nil {
		return Environment{}, fmt.Errorf("store: environment %q: %w", name, err)
	}
	return Environment{ID: row.ID, Name: row.Name}, nil
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
	_, err := s.q.InsertAPIKey(ctx, db.InsertAPIKeyParams{EnvironmentID: env.ID, KeyHash: hash[:], KeyPrefix: key[:8], SecretSealed: sealed})
	if err != nil {
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
	row, err := s.q.LookupAPIKey(ctx, hash[:])
	if errors.Is(err, pgx.ErrNoRows) {
		return Environment{}, 0, ErrNotFound
	}
	if err != nil {
		return Environment{}, 0, fmt.Errorf("store: authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare(row.KeyHash, hash[:]) != 1 {
		return Environment{}, 0, ErrNotFound
	}
	return Environment{ID: row.EnvID, Name: row.EnvName}, row.KeyID, nil
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
	rows, err := s.q.EnvironmentKeySecrets(ctx, envID)
	if err != nil {
		return env, nil, fmt.Errorf("store: key secrets: %w", err)
	}
	var out []KeySecret
	for _, r := range rows {
		env.Name = r.EnvName
		plain, err := s.sealer.Open(r.SecretSealed, r.KeyHash)
		if err != nil {
			return env, nil, fmt.Errorf("store: key secrets: key %d: %w", r.ID, err)
		}
		out = append(out, KeySecret{ID: r.ID, Secret: plain})
	}
	return env, out, nil
}

// ActiveKeyEnvironment returns the environment of an active key by id, or
// ErrNotFound for an unknown or revoked one.
func (s *Store) ActiveKeyEnvironment(ctx context.Context, id int64) (Environment, error) {
	row, err := s.q.ActiveKeyEnvironment(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Environment{}, ErrNotFound
	}
	if err != nil {
		return Environment{}, fmt.Errorf("store: key %d: %w", id, err)
	}
	return Environment{ID: row.ID, Name: row.Name}, nil
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
	rows, err := s.q.ListAPIKeys(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	out := make([]APIKey, len(rows))
	for k, r := range rows {
		out[k] = APIKey{ID: r.ID, Prefix: r.KeyPrefix, Env: r.EnvName, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt, Sealed: r.Sealed}
	}
	return out, nil
}

// RevokeAPIKey revokes a key by id: it and every token it signed stop
// working. Revoking a revoked key gives ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64) error {
	n, err := s.q.RevokeAPIKey(ctx, id)
	if err != nil {
		return fmt.Errorf("store: revoke key %d: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
