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
	"strings"
)

// ErrChunkMAC reports a chunk reference that streambatch's API did not sign
// as it is: forged, altered, or signed with another secret.
var ErrChunkMAC = errors.New("chunk signature does not match: not signed by this server's API")

// ErrChunkContent reports a genuine chunk reference (its signature is the
// API's) whose staged object does not hold what the API staged: its
// SHA-256 differs from the digest the reference names.
var ErrChunkContent = errors.New("the staged chunk's content is not what the API staged (its SHA-256 differs)")

// ErrChunkNeedsContent reports a staged chunk's reference signed the first
// way (version 1, by an API older than this package), whose signature
// covers the staged object's bytes: only Verify with those bytes can tell
// whether it is genuine.
var ErrChunkNeedsContent = errors.New("chunk signature of version 1 covers the staged content: it cannot be checked without it")

var errNoSecret = errors.New("chunk signer: no server secret configured")

// macInfo and macInfoV2 separate the chunk keys of each signature version
// from each other and from anything else derived from the server secret.
const (
	macInfo   = "streambatch/chunk-mac/v1"
	macInfoV2 = "streambatch/chunk-mac/v2"
)

// macV2Prefix starts a version 2 signature in ChunkRef.MAC; a version 1
// signature is the bare base64 MAC (base64url has no '.').
const macV2Prefix = "2."

// ChunkSigner authenticates chunk references with HMAC-SHA256 under keys
// derived from the server secret: the API signs every chunk it signals,
// and the enqueue activity refuses a chunk whose signature does not match.
// Whoever can signal a workflow without holding the secret therefore cannot
// make streambatch create runs, nor point a run at another tenant's object.
//
// The signature (version 2, ChunkRef.MAC "2.…") covers the batch, its
// environment and every field of the reference, the inline items included;
// a staged chunk's content is covered through its SHA-256, which the
// reference carries (ChunkRef.Digest). A reference can therefore be
// checked without its staged object, and a staged object that was lost or
// changed is told apart from a forged reference. Version 1 signatures
// (a bare MAC over the reference and the staged bytes themselves, made by
// older API replicas) still verify, with the staged bytes. It is safe for
// concurrent use.
type ChunkSigner struct {
	key   []byte // version 1 (verification only)
	keyV2 []byte
}

// NewChunkSigner derives the signing keys from the server secret.
func NewChunkSigner(secret string) (*ChunkSigner, error) {
	if secret == "" {
		return nil, errors.New("chunk signer: empty secret")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, macInfo, 32)
	if err != nil {
		return nil, err
	}
	keyV2, err := hkdf.Key(sha256.New, []byte(secret), nil, macInfoV2, 32)
	if err != nil {
		return nil, err
	}
	return &ChunkSigner{key: key, keyV2: keyV2}, nil
}

// ContentDigest is what ChunkRef.Digest holds for a staged object with
// this content: its SHA-256, base64url without padding.
func ContentDigest(staged []byte) string {
	sum := sha256.Sum256(staged)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Sign sets ref.Digest (for a staged chunk) and ref.MAC for a chunk of the
// batch batchID in env. staged is the staged object's content (ignored for
// an inline chunk).
func (s *ChunkSigner) Sign(batchID, env string, ref *ChunkRef, staged []byte) error {
	if s == nil {
		return errNoSecret
	}
	ref.Digest = ""
	if ref.Key != "" {
		ref.Digest = ContentDigest(staged)
	}
	sum, err := s.sumV2(batchID, env, ref)
	if err != nil {
		return err
	}
	ref.MAC = macV2Prefix + base64.RawURLEncoding.EncodeToString(sum)
	return nil
}

// VerifyReference checks ref.MAC without a staged chunk's content. nil
// means the reference is the API's, and (for a staged chunk) that its
// content is the one whose digest ref.Digest holds, which Verify checks;
// ErrChunkMAC means it is not the API's; ErrChunkNeedsContent means a
// version 1 signature of a staged chunk, which only Verify can check.
func (s *ChunkSigner) VerifyReference(batchID, env string, ref *ChunkRef) error {
	if s == nil {
		return fmt.Errorf("%w (%v)", ErrChunkMAC, errNoSecret)
	}
	mac, v2 := strings.CutPrefix(ref.MAC, macV2Prefix)
	if !v2 {
		if ref.Key != "" {
			return ErrChunkNeedsContent
		}
		return s.Verify(batchID, env, ref, nil)
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || len(got) != sha256.Size {
		return ErrChunkMAC
	}
	if (ref.Key == "") != (ref.Digest == "") {
		return ErrChunkMAC
	}
	want, err := s.sumV2(batchID, env, ref)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrChunkMAC, err)
	}
	if !hmac.Equal(got, want) {
		return ErrChunkMAC
	}
	return nil
}

// Verify checks ref.MAC and a staged chunk's content: ErrChunkMAC when the
// reference is not the API's, ErrChunkContent when it is but staged is not
// the content it was signed with (version 2; a version 1 signature covers
// the bytes, so changed content gives ErrChunkMAC).
func (s *ChunkSigner) Verify(batchID, env string, ref *ChunkRef, staged []byte) error {
	if s == nil {
		return fmt.Errorf("%w (%v)", ErrChunkMAC, errNoSecret)
	}
	if strings.HasPrefix(ref.MAC, macV2Prefix) {
		if err := s.VerifyReference(batchID, env, ref); err != nil {
			return err
		}
		if ref.Key != "" && ContentDigest(staged) != ref.Digest {
			return ErrChunkContent
		}
		return nil
	}
	if ref.Digest != "" {
		return ErrChunkMAC // version 1 does not cover it
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

// sumV2 is the version 2 MAC: every field of the reference, ref.Digest
// standing for a staged chunk's content and the JSON of the items for an
// inline one.
func (s *ChunkSigner) sumV2(batchID, env string, ref *ChunkRef) ([]byte, error) {
	m := hmac.New(sha256.New, s.keyV2)
	w := macWriter{h: m}
	w.fields(batchID, env, ref)
	w.str(ref.Digest)
	if ref.Key == "" {
		js, err := json.Marshal(ref.Items)
		if err != nil {
			return nil, err
		}
		w.bytes(js)
	}
	return m.Sum(nil), nil
}

// sum is the version 1 MAC of everything the chunk reference says and of
// the staged object's bytes. Inline items are
// covered by their JSON encoding, which is what the signal carries and
// what encoding it again after decoding gives back.
func (s *ChunkSigner) sum(batchID, env string, ref *ChunkRef, staged []byte) ([]byte, error) {
	m := hmac.New(sha256.New, s.key)
	w := macWriter{h: m}
	w.fields(batchID, env, ref)
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

// fields writes the batch, its environment and the reference's fields
// other than its content, digest and MAC.
func (w *macWriter) fields(batchID, env string, ref *ChunkRef) {
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
