package batch

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

var envNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateEnvName checks an environment name, which appears in object keys.
func ValidateEnvName(name string) error {
	if !envNameRE.MatchString(name) {
		return fmt.Errorf("environment name %q is invalid: use 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	return nil
}

// PacketPrefix is the key prefix under which all packets of an environment
// live.
func PacketPrefix(env string) string { return "packets/" + env + "/" }

// PacketKey is the key of the payload that a Phase 2 request (stream)
// offloaded for an item: deterministic, so a retried upload overwrites its
// own object, and distinct per delivery, so a re-sent stream never
// overwrites the object of the run that owns the index (the first
// delivery's); the sweeper removes the others.
func PacketKey(env, batchID string, index int, stream string) string {
	return fmt.Sprintf("%sitem_%d/payload-%s.json", BatchPacketPrefix(env, batchID), index, stream)
}

// BatchPacketPrefix is the key prefix of a batch's packets and outputs.
func BatchPacketPrefix(env, batchID string) string {
	return PacketPrefix(env) + batchID + "/"
}

// PacketIndex returns the item index of a key under BatchPacketPrefix
// (item_<index>/…).
func PacketIndex(prefix, key string) (int, bool) {
	rest, ok := strings.CutPrefix(key, prefix+"item_")
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil && n >= 0
}

// OutputKey is the key of a run output too large to keep in PostgreSQL.
func OutputKey(env, batchID string, index int) string {
	return fmt.Sprintf("%sitem_%d/output.json", BatchPacketPrefix(env, batchID), index)
}

// StagingPrefix is the key prefix of a batch's staged chunk objects, which
// are deleted when the batch is sealed or aborted.
func StagingPrefix(env, batchID string) string {
	return "staging/" + env + "/" + batchID + "/"
}

// StagedChunkKey names the staged object of chunk seq of a Phase 2 request.
func StagedChunkKey(env, batchID, stream string, seq int) string {
	return fmt.Sprintf("%s%s-%06d.json", StagingPrefix(env, batchID), stream, seq)
}

// UploadPrefix is the application/store path prefix (relative to the
// environment's packet prefix) of the payloads uploaded for a batch: where
// the Go client names its uploads, and where PUT /api/v2/packets binds the
// upload a batch's public access token asks for. A stream authenticated by
// such a token may reference only paths under it (UploadedFor).
func UploadPrefix(batchID string) string { return "uploads/" + batchID + "/" }

// UploadedFor reports whether an application/store path names a payload
// uploaded for the batch (under UploadPrefix). Check the path with
// StoreRefKey too: this only compares the prefix.
func UploadedFor(batchID, path string) bool {
	return batchID != "" && strings.HasPrefix(path, UploadPrefix(batchID))
}

// ErrInvalidStorePath is returned by StoreRefKey for a path that could
// escape the environment's packet prefix or is otherwise unusable.
var ErrInvalidStorePath = errors.New("invalid application/store path")

// MaxStorePathLen bounds a client-supplied application/store path.
const MaxStorePathLen = 1024

// StoreRefKey maps the path of a payload that a client uploaded itself (an
// application/store reference, relative to the environment's packet prefix)
// to its object key. Paths that are absolute, contain "." or ".." segments
// (plain or percent-encoded), empty segments, backslashes or control
// characters are refused, so a reference can never reach another
// environment's objects; so are paths under a batch's own folder
// (batch_…/), so a client can neither overwrite a packet streambatch wrote
// nor point a run at another batch's payload.
func StoreRefKey(env, path string) (string, error) {
	if path == "" || len(path) > MaxStorePathLen || !utf8.ValidString(path) {
		return "", ErrInvalidStorePath
	}
	for _, r := range path {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "", ErrInvalidStorePath
		}
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", ErrInvalidStorePath
		}
	}
	// Percent-encoded dots would become "." or ".." segments for whatever
	// decodes the key later; the batches' own folders (batch_…/) hold the
	// packets streambatch wrote and are not the client's to reference or
	// overwrite.
	if strings.Contains(strings.ToLower(path), "%2e") || strings.HasPrefix(path, "batch_") {
		return "", ErrInvalidStorePath
	}
	return PacketPrefix(env) + path, nil
}
