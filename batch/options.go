package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streambatch/streambatch/jsonscan"
)

// ItemOptions is an item's options object (trigger.dev's batch item
// options): the object reduced to the keys streambatch knows, as stored
// with the run, and the values streambatch acts on, typed. ParseItemOptions
// is the schema's one reader: it builds ItemOptions from the item at
// ingest, and StoredItemOptions, with it, from a run's stored options
// (the store's insert, the dispatcher, the trigger.dev read side). The
// zero value is an item without options.
type ItemOptions struct {
	// JSON is the options object reduced to known keys, compact, in a fixed
	// key order: what the runs table stores and GET returns. Nil when no
	// known key remains.
	JSON json.RawMessage
	// PayloadType is options.payloadType, or "".
	PayloadType string
	// Delay is how long after the batch's creation the run may start, or 0.
	Delay time.Duration
	// DelayUntil is an absolute start time given as a date, or zero.
	DelayUntil time.Time
	// TTL is how long the run may wait to start before it expires, or 0.
	TTL time.Duration
	// MaxAttempts is the attempt limit, or 0 for the default.
	MaxAttempts int
	// MaxDuration bounds one attempt, or 0 for the default.
	MaxDuration time.Duration
	// Priority is trigger.dev's priority in seconds (higher runs sooner).
	Priority float64
	// Queue is options.queue.name, or "".
	Queue string
	// Metadata (compact JSON, nil for none or null), Tags (nil when absent)
	// and IdempotencyKey are passed to the task worker.
	Metadata       json.RawMessage
	Tags           []string
	IdempotencyKey string
	// IdempotencyKeyTTL is how long IdempotencyKey names the run it
	// created (options.idempotencyKeyTTL, DefaultIdempotencyKeyTTL when the
	// item gave none); 0 when the item has no key.
	IdempotencyKeyTTL time.Duration
	// Refused says why a run cannot execute with these options (an
	// attempt limit or attempt duration above what streambatch allows);
	// "" when it can. Such an item is accepted and its run fails when it
	// is dispatched; the typed fields of refused options are not used.
	Refused string
}

// Bounds on run options.
const (
	// MaxRunAttempts is the most attempts a run may ask for.
	MaxRunAttempts = 100
	// MaxRunDuration is the longest maxDuration a run may ask for.
	MaxRunDuration = 7 * 24 * time.Hour
	// MaxRunTags is the most tags a run may have; MaxTagChars the longest
	// tag, in JavaScript characters (trigger.dev's limits).
	MaxRunTags  = 10
	MaxTagChars = 128
	// DefaultIdempotencyKeyTTL is how long an item's idempotency key names
	// its run when the item gives no idempotencyKeyTTL (trigger.dev's 30
	// days).
	DefaultIdempotencyKeyTTL = 30 * 24 * time.Hour
)

// StartAfter returns when a run created at created may start: created plus
// its delay, or its absolute delay date; the zero time when it has no delay.
func (o *ItemOptions) StartAfter(created time.Time) time.Time {
	switch {
	case !o.DelayUntil.IsZero():
		return o.DelayUntil
	case o.Delay > 0:
		return created.Add(o.Delay)
	}
	return time.Time{}
}

// ParseTriggerDuration parses trigger.dev's duration strings: one or more
// number-unit pairs with units w, d, h (hr), m (min), s (sec) or ms, such as
// "30s", "1h30m" or "2d".
func ParseTriggerDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j-i > 9 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		n, _ := strconv.Atoi(s[i:j])
		k := j
		for k < len(s) && (s[k] < '0' || s[k] > '9') {
			k++
		}
		var unit time.Duration
		switch s[j:k] {
		case "w":
			unit = 7 * 24 * time.Hour
		case "d":
			unit = 24 * time.Hour
		case "h", "hr", "hrs":
			unit = time.Hour
		case "m", "min", "mins":
			unit = time.Minute
		case "s", "sec", "secs":
			unit = time.Second
		case "ms":
			unit = time.Millisecond
		default:
			return 0, fmt.Errorf("bad duration unit in %q", s)
		}
		total += time.Duration(n) * unit
		if total > 10*365*24*time.Hour {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		i = k
	}
	return total, nil
}

// ValidQueueName reports whether name may follow "runs.<env>." in a task
// queue: 1–128 letters, digits and . _ - / : characters.
func ValidQueueName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	return strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/:", r))
	}) < 0
}

// ParseItemOptions checks a raw, non-null options value, a value of valid
// JSON text in UTF-8 (such as a member of a validated NDJSON line), and
// reads it in the same scan. The problem it returns is non-empty when the
// options are refused, e.g. "options.tags must have at most 10 tags" (the
// caller names the item); the ItemOptions are then zero. The ItemOptions
// share no memory with raw.
func ParseItemOptions(raw []byte) (ItemOptions, string) {
	if jsonscan.Kind(raw) != "object" {
		return ItemOptions{}, "options must be an object"
	}
	var vals [len(itemOptions)][]byte // the last occurrence of a key wins
	it := jsonscan.Object(raw)
	for key, val, ok := it.Next(); ok; key, val, ok = it.Next() {
		if k := optionIndex(jsonscan.TextBytes(key)); k >= 0 {
			vals[k] = val
		}
	}
	size := 0
	for k, val := range vals {
		if val != nil {
			size += len(itemOptions[k]) + len(val) + 4
		}
	}
	if size == 0 {
		return ItemOptions{}, ""
	}
	out := make([]byte, 0, size+16) // coercions may lengthen a value a little
	out = append(out, '{')
	var o ItemOptions
	var text [256]byte
	t := optText{text: text[:0], ntags: -1}
	metaStart, metaEnd := 0, 0
	for k, val := range vals {
		if val == nil {
			continue
		}
		name := itemOptions[k]
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, name...)
		out = append(out, '"', ':')
		start := len(out)
		var p string
		if out, p = checkOption(k, out, val, &o, &t); p != "" {
			if p[0] != '.' && p[0] != '[' { // nested problems name their field
				p = " " + p
			}
			return ItemOptions{}, "options." + name + p
		}
		if k == optMetadata && string(out[start:]) != "null" {
			metaStart, metaEnd = start, len(out)
		}
	}
	out = append(out, '}')
	t.fill(&o)
	switch {
	case o.IdempotencyKey == "":
		o.IdempotencyKeyTTL = 0
	case vals[optIdempotencyKeyTTL] == nil:
		o.IdempotencyKeyTTL = DefaultIdempotencyKeyTTL
	}
	o.JSON = out
	if metaEnd > 0 {
		// Taken from out once it no longer grows: an earlier slice could
		// point at a backing array that append has since left.
		o.Metadata = out[metaStart:metaEnd:metaEnd]
	}
	return o, ""
}

// StoredItemOptions reads the options stored with a run (ItemOptions.JSON
// as written at ingest, or PostgreSQL's rendering of it); nil or empty
// gives the zero ItemOptions. Options that do not pass ParseItemOptions
// (not written by streambatch) come back Refused.
func StoredItemOptions(raw []byte) ItemOptions {
	if len(raw) == 0 {
		return ItemOptions{}
	}
	if !jsonscan.Valid(raw) {
		return ItemOptions{Refused: "options are not valid JSON"}
	}
	raw = raw[jsonscan.SkipSpace(raw, 0):]
	if jsonscan.Kind(raw) == "null" {
		return ItemOptions{}
	}
	o, problem := ParseItemOptions(raw)
	if problem != "" {
		return ItemOptions{Refused: problem}
	}
	return o
}
