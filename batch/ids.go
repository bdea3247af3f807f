package batch

import (
	"crypto/rand"
	"regexp"
)

const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// randomID returns n characters from idAlphabet drawn from crypto/rand.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for k := range b {
		b[k] = idAlphabet[int(b[k])%len(idAlphabet)] // 256 % 36 bias is irrelevant for ids
	}
	return string(b)
}

// NewBatchID returns a fresh friendly batch id ("batch_" + 24 characters).
func NewBatchID() string { return "batch_" + randomID(24) }

// NewRunID returns a fresh run id ("run_" + 24 characters).
func NewRunID() string { return "run_" + randomID(24) }

// NewStreamID returns a short random id for one Phase 2 request.
func NewStreamID() string { return randomID(10) }

var batchIDRE = regexp.MustCompile(`^batch_[a-z0-9]{24}$`)

// ValidBatchID reports whether id has the form NewBatchID produces. Use it to
// refuse malformed ids before they reach a query or an object key.
func ValidBatchID(id string) bool { return batchIDRE.MatchString(id) }
