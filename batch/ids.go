package batch

import (
	"crypto/rand"
	"regexp"
	"strconv"
	"strings"
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

// NewStreamID returns a short random id for one Phase 2 request.
func NewStreamID() string { return randomID(10) }

var batchIDRE = regexp.MustCompile(`^batch_[a-z0-9]{24}$`)

// ValidBatchID reports whether id has the form NewBatchID produces. Use it to
// refuse malformed ids before they reach a query or an object key.
func ValidBatchID(id string) bool { return batchIDRE.MatchString(id) }

// RunID returns the id of a batch's run at index: "run_" + the batch id's
// 24 characters + "_" + index (the runs table derives the same).
func RunID(batchID string, index int) string {
	return "run_" + strings.TrimPrefix(batchID, "batch_") + "_" + strconv.Itoa(index)
}

var runIDRE = regexp.MustCompile(`^run_([a-z0-9]{24})_(0|[1-9][0-9]{0,8})$`)

// ParseRunID splits a run id into its batch id and index; ok is false for
// anything RunID cannot produce.
func ParseRunID(id string) (batchID string, index int, ok bool) {
	m := runIDRE.FindStringSubmatch(id)
	if m == nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(m[2])
	if err != nil || n > MaxIndex {
		return "", 0, false
	}
	return "batch_" + m[1], n, true
}

// MaxIndex is the largest index a batch can have (runCount ≤ 10,000,000).
const MaxIndex = 9_999_999
