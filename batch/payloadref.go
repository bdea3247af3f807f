package batch

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A payload reference is how a run's payload at or above
// STREAMBATCH_PAYLOAD_REF_THRESHOLD travels to its task worker instead of
// inside the run's activity input (and so Temporal's history): a URL of
// the API's route PayloadRefPath, signed for one run of one environment
// until an expiry. Whoever holds it reads that run's payload, nothing else,
// until it expires; it cannot be made for another run, another
// environment or a later expiry without the server secret.

// Errors of PayloadRefSigner.Verify.
var (
	// ErrPayloadRefMAC reports a reference the server did not sign as it
	// is: forged, altered, made for another run or environment, or signed
	// with another secret.
	ErrPayloadRefMAC = errors.New("payload reference signature does not match: not issued by this server for this run")
	// ErrPayloadRefExpired reports a genuine reference past its expiry.
	ErrPayloadRefExpired = errors.New("payload reference expired")
)

// payloadRefInfo separates the reference key from anything else derived
// from the server secret.
const payloadRefInfo = "streambatch/payload-ref/v1"

// Query parameters of a payload reference.
const (
	PayloadRefExpParam = "exp"
	PayloadRefSigParam = "sig"
)

// PayloadRefPath is the API path a run's payload reference points to.
func PayloadRefPath(runID string) string { return "/api/v3/runs/" + runID + "/payload" }

// PayloadRefSigner makes and checks payload references with HMAC-SHA256
// under a key derived from the server secret (STREAMBATCH_JWT_SECRET):
// the worker signs, the API verifies. It is safe for concurrent use.
type PayloadRefSigner struct {
	key []byte
}

// NewPayloadRefSigner derives the signing key from the server secret.
func NewPayloadRefSigner(secret string) (*PayloadRefSigner, error) {
	if secret == "" {
		return nil, errors.New("payload reference signer: empty secret")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, payloadRefInfo, 32)
	if err != nil {
		return nil, err
	}
	return &PayloadRefSigner{key: key}, nil
}

// URL returns the reference of run runID of environment env, valid until
// exp: base (the API's URL as task workers reach it, without a trailing
// slash) + PayloadRefPath + ?exp=<unix seconds>&sig=<MAC>.
func (s *PayloadRefSigner) URL(base, env, runID string, exp time.Time) string {
	unix := exp.Unix()
	return strings.TrimSuffix(base, "/") + PayloadRefPath(runID) + "?" + PayloadRefExpParam + "=" +
		strconv.FormatInt(unix, 10) + "&" + PayloadRefSigParam + "=" + s.sign(env, runID, unix)
}

// Verify checks the exp and sig query values of a reference to run runID,
// whose batch belongs to environment env, at time now: nil, or
// ErrPayloadRefMAC, or ErrPayloadRefExpired (for a genuine reference only).
func (s *PayloadRefSigner) Verify(env, runID string, query url.Values, now time.Time) error {
	unix, err := strconv.ParseInt(query.Get(PayloadRefExpParam), 10, 64)
	if err != nil || len(query[PayloadRefExpParam]) != 1 || len(query[PayloadRefSigParam]) != 1 {
		return ErrPayloadRefMAC
	}
	got, err := base64.RawURLEncoding.DecodeString(query.Get(PayloadRefSigParam))
	if err != nil || len(got) != sha256.Size {
		return ErrPayloadRefMAC
	}
	want, _ := base64.RawURLEncoding.DecodeString(s.sign(env, runID, unix))
	if !hmac.Equal(got, want) {
		return ErrPayloadRefMAC
	}
	if !now.Before(time.Unix(unix, 0)) {
		return ErrPayloadRefExpired
	}
	return nil
}

// sign is the MAC of (env, run, expiry), length-prefixed so that no two
// triples encode alike.
func (s *PayloadRefSigner) sign(env, runID string, unix int64) string {
	m := hmac.New(sha256.New, s.key)
	w := macWriter{h: m}
	w.str(env)
	w.str(runID)
	w.int(unix)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
