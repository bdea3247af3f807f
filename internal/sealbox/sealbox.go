// Package sealbox encrypts small secrets at rest (the secret of each API
// key, which verifying the trigger.dev SDK's self-signed tokens needs) with
// AES-256-GCM under a key derived from a server secret with HKDF-SHA256.
// A sealed value carries a version byte, so the scheme can change without
// breaking stored values.
package sealbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// version 1: 0x01 || 12-byte nonce || AES-256-GCM ciphertext and tag.
const version1 = 0x01

// info separates this key from anything else derived from the secret.
const info = "streambatch/sealbox/api-key-secrets/v1"

// ErrOpen reports a sealed value that does not decrypt under this key.
var ErrOpen = errors.New("sealbox: cannot open the sealed value (wrong key or damaged)")

// Box seals and opens secrets. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New derives the box's key from secret (at least 32 bytes).
func New(secret string) (*Box, error) {
	if len(secret) < 32 {
		return nil, errors.New("sealbox: the server secret must be at least 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, info, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain; additional binds the ciphertext to its context (a
// key's hash), so a sealed value cannot be moved to another row.
func (b *Box) Seal(plain, additional []byte) []byte {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	out[0] = version1
	if _, err := rand.Read(out[1:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b.aead.Seal(out, out[1:1+b.aead.NonceSize()], plain, additional)
}

// Open decrypts a value Seal produced with the same additional data.
func (b *Box) Open(sealed, additional []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version1 {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], additional)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
