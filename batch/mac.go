package batch

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
)

// ErrChunkMAC reports a chunk reference that streambatch's API did not sign
// as it is: forged, altered, or signed with another secret.
var ErrChunkMAC = errors.New("chunk signature does not match: not signed by this server's API")

var errNoSecret = errors.New("chunk signer: no server secret configured")

// macInfo separates the chunk key from anything else derived from the
// server secret.
const macInfo = "streambatch/chunk-mac/v1"

// ChunkSigner authenticates chunk references with HMAC-SHA256 under a key
// derived from the server secret: the API signs every chunk it signals,
// and the enqueue activity refuses a chunk whose signature does not match.
// Whoever can signal a workflow without holding the secret therefore cannot
// make streambatch create runs, nor point a run at another tenant's object.
// The signature covers the batch, its environment, every field of the
// reference and the chunk's content (the staged object's bytes or the
// inline items). It is safe for concurrent use.
type ChunkSigner struct {
	key []byte
}

// NewChunkSigner derives the signing key from the server secret.
func NewChunkSigner(secret string) (*ChunkSigner, error) {
	if secret == "" {
		return nil, errors.New("chunk signer: empty secret")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, macInfo, 32)
	if err != nil {
		return nil, err
	}
	return &ChunkSigner{key: key}, nil
}

// Sign sets ref.MAC for a chunk of the batch batchID in env. staged is the
// staged object's content (ignored for an inline chunk).
func (s *ChunkSigner) Sign(batchID, env string, ref *ChunkRef, staged []byte) error {
	if s == nil {
		return errNoSecret
	}
	sum, err := s.sum(batchID, env, ref, staged)
	if err != nil {
		return err
	}
	ref.MAC = base64.RawURLEncoding.EncodeToString(sum)
	return nil
}

// Verify checks ref.MAC (ErrChunkMAC when it does not match).
func (s *ChunkSigner) Verify(batchID, env string, ref *ChunkRef, staged []byte) error {
	if s == nil {
		return fmt.Errorf("%w (%v)", ErrChunkMAC, errNoSecret)
	}
	got, err := base64.RawURLEncoding.DecodeString(ref.MAC)
	if err != nil || len(got) != sha256.Size {
		return ErrChunkMAC
	}
	want, err := s.sum(batchID, env, ref, staged)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrChunkMAC, err)
	}
	if !hmac.Equal(got, want) {
		return ErrChunkMAC
	}
	return nil
}

// sum is the MAC of everything the chunk reference says. Inline items are
// covered by their JSON encoding, which is what the signal carries and
// what encoding it again after decoding gives back.
func (s *ChunkSigner) sum(batchID, env string, ref *ChunkRef, staged []byte) ([]byte, error) {
	m := hmac.New(sha256.New, s.key)
	w := macWriter{h: m}
	w.str(batchID)
	w.str(env)
	w.str(ref.Stream)
	w.int(int64(ref.Seq))
	w.int(int64(len(ref.Indexes)))
	for _, r := range ref.Indexes {
		w.int(int64(r[0]))
		w.int(int64(r[1]))
	}
	w.int(int64(len(ref.Failed)))
	for _, i := range ref.Failed {
		w.int(int64(i))
	}
	w.str(ref.Key)
	w.int(ref.Size)
	w.int(ref.PayloadBytes)
	if ref.Key != "" {
		w.bytes(staged)
	} else {
		js, err := json.Marshal(ref.Items)
		if err != nil {
			return nil, err
		}
		w.bytes(js)
	}
	return m.Sum(nil), nil
}

// macWriter writes length-prefixed fields, so no two references encode
// alike.
type macWriter struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64]byte
}

func (w *macWriter) int(v int64) {
	w.h.Write(binary.AppendVarint(w.buf[:0], v))
}

func (w *macWriter) bytes(b []byte) {
	w.int(int64(len(b)))
	w.h.Write(b)
}

func (w *macWriter) str(s string) {
	w.int(int64(len(s)))
	w.h.Write([]byte(s))
}
