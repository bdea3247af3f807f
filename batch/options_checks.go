package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streambatch/streambatch/jsonscan"
)

// Item option limits (trigger.dev's zod schema; "characters" are UTF-16 code
// units, JavaScript's String.length).
const (
	optMaxIdempotencyKeyChars = 2048
	optMaxDeploymentIDChars   = 256
	optMaxPayloadTypeLen      = 256 // bytes
	optMaxTagChars            = MaxTagChars
	optMaxTags                = MaxRunTags
	optMaxDebounceKeyChars    = 512
	// optMaxInt bounds maxAttempts and queue.concurrencyLimit (below 2^31).
	optMaxInt = 1<<31 - 1
	// optMaxSafeInt is JavaScript's Number.MAX_SAFE_INTEGER, the bound of
	// payloadSize and a ttl in seconds.
	optMaxSafeInt = 1<<53 - 1
	// optMaxErrValueLen bounds the raw JSON quoted in a problem.
	optMaxErrValueLen = 40
)

// check validates the raw value of an option and appends the value to keep
// (compact JSON) to dst; it returns the problem when the value is refused:
// "must be a string, got number", or for a nested field ".name is
// required" or "[2] must be a string, got null".
type check func(dst, raw []byte) ([]byte, string)

// itemOptions names the known option keys in the order they are written to
// ItemOptions.JSON; optionIndex maps a name to its position and
// checkOption checks the value of each. Any other key (including the
// internal __error and __errorCode) is dropped.
var itemOptions = [...]string{
	"concurrencyKey", "delay", "idempotencyKey", "idempotencyKeyTTL", "idempotencyKeyOptions",
	"lockToVersion", "externalDeploymentId", "machine", "maxAttempts", "maxDuration", "metadata",
	"metadataType", "parentAttempt", "payloadType", "payloadSize", "queue", "tags", "test", "ttl",
	"priority", "region", "debounce", "gates", "concurrency",
}

// Positions in itemOptions of "metadata" and "idempotencyKeyTTL".
const (
	optMetadata          = 10
	optIdempotencyKeyTTL = 3
)

// optionIndex returns the position of a known option in itemOptions, or -1.
func optionIndex(name []byte) int {
	switch string(name) {
	case "concurrencyKey":
		return 0
	case "delay":
		return 1
	case "idempotencyKey":
		return 2
	case "idempotencyKeyTTL":
		return optIdempotencyKeyTTL
	case "idempotencyKeyOptions":
		return 4
	case "lockToVersion":
		return 5
	case "externalDeploymentId":
		return 6
	case "machine":
		return 7
	case "maxAttempts":
		return 8
	case "maxDuration":
		return 9
	case "metadata":
		return optMetadata
	case "metadataType":
		return 11
	case "parentAttempt":
		return 12
	case "payloadType":
		return 13
	case "payloadSize":
		return 14
	case "queue":
		return 15
	case "tags":
		return 16
	case "test":
		return 17
	case "ttl":
		return 18
	case "priority":
		return 19
	case "region":
		return 20
	case "debounce":
		return 21
	case "gates":
		return 22
	case "concurrency":
		return 23
	}
	return -1
}

var checkMachine = checkOptEnum("micro", "small-1x", "small-2x", "medium-1x", "medium-2x", "large-1x", "large-2x")

// optText gathers the text of the typed strings of ParseItemOptions in one
// buffer, which becomes one string at the end (one allocation for all of
// them). The buffer starts on ParseItemOptions' stack; it is kept apart
// from the ItemOptions being filled, and grown by hand rather than by
// append, so that it can stay there.
type optText struct {
	text                               []byte
	payloadType, queue, idempotencyKey span
	tags                               [optMaxTags]span
	ntags                              int // -1: no tags option
}

// span is a part of optText.text.
type span struct{ from, to int }

// keep adds the text of a JSON string of valid JSON text.
func (t *optText) keep(raw []byte) span {
	b := jsonscan.TextBytes(raw)
	from := len(t.text)
	if cap(t.text)-from < len(b) {
		grown := make([]byte, from, 2*cap(t.text)+len(b))
		copy(grown, t.text)
		t.text = grown
	}
	t.text = t.text[:from+len(b)]
	copy(t.text[from:], b)
	return span{from, from + len(b)}
}

// fill sets the typed strings of o.
func (t *optText) fill(o *ItemOptions) {
	text := string(t.text)
	str := func(s span) string { return text[s.from:s.to] }
	o.PayloadType, o.Queue, o.IdempotencyKey = str(t.payloadType), str(t.queue), str(t.idempotencyKey)
	if t.ntags >= 0 {
		o.Tags = make([]string, t.ntags)
		for k := range o.Tags {
			o.Tags[k] = str(t.tags[k])
		}
	}
}

// checkOption checks the value of option k (its position in itemOptions)
// like a check, reading the typed values it feeds into o and t. The calls
// are direct so that o and t stay on their caller's stack.
func checkOption(k int, dst, raw []byte, o *ItemOptions, t *optText) ([]byte, string) {
	switch k {
	case 0:
		return checkConcurrencyKey(dst, raw)
	case 1:
		return checkDelay(dst, raw, o)
	case 2:
		return checkIdempotencyKey(dst, raw, t)
	case optIdempotencyKeyTTL:
		return checkIdempotencyKeyTTL(dst, raw, o)
	case 4:
		return checkNestedObject(dst, raw, optIdempotencyKeyOptionsFields, nil)
	case 6:
		return checkExternalDeploymentID(dst, raw)
	case 7:
		return checkMachine(dst, raw)
	case 8:
		return checkMaxAttempts(dst, raw, o)
	case 9:
		return checkMaxDuration(dst, raw, o)
	case optMetadata:
		return checkOptAny(dst, raw)
	case 13:
		return checkPayloadType(dst, raw, t)
	case 14:
		dst, _, p := appendNonNegInt(dst, raw, optMaxSafeInt)
		return dst, p
	case 15:
		return checkQueue(dst, raw, t)
	case 16:
		return checkTags(dst, raw, t)
	case 17:
		return checkOptBool(dst, raw)
	case 18:
		return checkTTL(dst, raw, o)
	case 19:
		return checkPriority(dst, raw, o)
	case 21:
		return checkNestedObject(dst, raw, optDebounceFields, nil)
	case 22:
		return checkGates(dst, raw)
	case 23:
		return checkConcurrency(dst, raw)
	}
	return checkOptString(dst, raw) // lockToVersion, metadataType, parentAttempt, region
}

// optionKindProblem completes a type problem with the kind of value received.
func optionKindProblem(what string, raw []byte) string {
	return what + ", got " + jsonscan.Kind(raw)
}

// optErrValue quotes raw JSON in a problem, cut to optMaxErrValueLen bytes.
func optErrValue(raw []byte) string { return jsonscan.Excerpt(raw, optMaxErrValueLen) }

// TagChars is tag's length in JavaScript characters (UTF-16 code units),
// what MaxTagChars bounds.
func TagChars(tag string) int { return jsStringLen([]byte(tag)) }

// jsStringLen is JavaScript's String.length of s: its UTF-16 code units.
func jsStringLen(s []byte) int {
	n := 0
	for _, r := range string(s) { // no copy: the compiler ranges over s
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func checkOptString(dst, raw []byte) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a string", raw)
	}
	return append(dst, raw...), ""
}

func checkOptStringMaxChars(max int) check {
	return func(dst, raw []byte) ([]byte, string) {
		return appendStringMaxChars(dst, raw, max)
	}
}

func appendStringMaxChars(dst, raw []byte, max int) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a string", raw)
	}
	if jsStringLen(jsonscan.TextBytes(raw)) > max {
		return dst, fmt.Sprintf("is longer than %d characters", max)
	}
	return append(dst, raw...), ""
}

// checkIdempotencyKey keeps the idempotency key the task worker is given.
func checkIdempotencyKey(dst, raw []byte, t *optText) ([]byte, string) {
	dst, p := appendStringMaxChars(dst, raw, optMaxIdempotencyKeyChars)
	if p == "" {
		t.idempotencyKey = t.keep(raw)
	}
	return dst, p
}

// checkIdempotencyKeyTTL accepts a duration string (trigger.dev's "30s",
// "5m", "1h", "7d", and the other forms of ParseTriggerDuration). One
// that does not parse is refused: trigger.dev would silently keep the key
// for 30 days instead.
func checkIdempotencyKeyTTL(dst, raw []byte, o *ItemOptions) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a string", raw)
	}
	d, err := ParseTriggerDuration(jsonscan.Text(raw))
	if err != nil {
		return dst, `must be a duration such as "30s", "10m", "1h" or "7d", got ` + optErrValue(raw)
	}
	o.IdempotencyKeyTTL = d
	return append(dst, raw...), ""
}

func checkOptEnum(values ...string) check {
	problem := "must be one of " + strings.Join(values, ", ")
	return func(dst, raw []byte) ([]byte, string) {
		if jsonscan.Kind(raw) != "string" {
			return dst, optionKindProblem(problem, raw)
		}
		s := jsonscan.TextBytes(raw)
		for _, v := range values {
			if string(s) == v {
				// Written from v: the raw text may spell it with escapes.
				return jsonscan.AppendQuoted(dst, v), ""
			}
		}
		return dst, problem + ", got " + optErrValue(raw)
	}
}

func checkOptNonNegInt(max int64) check {
	return func(dst, raw []byte) ([]byte, string) {
		dst, _, p := appendNonNegInt(dst, raw, max)
		return dst, p
	}
}

func appendNonNegInt(dst, raw []byte, max int64) ([]byte, int64, string) {
	n, ok := jsonscan.NonNegInt(raw, max)
	if !ok {
		return dst, 0, "must be a non-negative integer, got " + optErrValue(raw)
	}
	// Canonical form, so 3.0 or 3e0 reach Go decoders as 3.
	return strconv.AppendInt(dst, n, 10), n, ""
}

// checkMaxAttempts keeps the attempt limit; one above MaxRunAttempts is
// accepted and refuses the run at dispatch.
func checkMaxAttempts(dst, raw []byte, o *ItemOptions) ([]byte, string) {
	dst, n, p := appendNonNegInt(dst, raw, optMaxInt)
	if p == "" {
		o.MaxAttempts = int(n)
		if n > MaxRunAttempts && o.Refused == "" {
			o.Refused = fmt.Sprintf("options.maxAttempts must be between 1 and %d, got %d", MaxRunAttempts, n)
		}
	}
	return dst, p
}

func appendNumber(dst, raw []byte) ([]byte, float64, string) {
	f, ok := jsonscan.FiniteNumber(raw)
	if !ok {
		if jsonscan.Kind(raw) == "number" {
			return dst, 0, "must be a finite number"
		}
		return dst, 0, optionKindProblem("must be a number", raw)
	}
	return append(dst, raw...), f, ""
}

// checkMaxDuration keeps the attempt duration in seconds; one above
// MaxRunDuration (or negative) is accepted and refuses the run at
// dispatch.
func checkMaxDuration(dst, raw []byte, o *ItemOptions) ([]byte, string) {
	dst, f, p := appendNumber(dst, raw)
	if p != "" {
		return dst, p
	}
	if f < 0 || f > float64(MaxRunDuration/time.Second) {
		if o.Refused == "" {
			o.Refused = fmt.Sprintf("options.maxDuration must be between 1 and %d seconds, got %g", int(MaxRunDuration/time.Second), f)
		}
		return dst, ""
	}
	o.MaxDuration = time.Duration(f * float64(time.Second))
	return dst, ""
}

func checkPriority(dst, raw []byte, o *ItemOptions) ([]byte, string) {
	dst, f, p := appendNumber(dst, raw)
	o.Priority = f
	return dst, p
}

func checkOptBool(dst, raw []byte) ([]byte, string) {
	if jsonscan.Kind(raw) != "boolean" {
		return dst, optionKindProblem("must be a boolean", raw)
	}
	return append(dst, raw...), ""
}

func checkOptAny(dst, raw []byte) ([]byte, string) {
	if raw[0] != '{' && raw[0] != '[' {
		return append(dst, raw...), "" // scalars hold no insignificant space
	}
	b := bytes.NewBuffer(dst)
	if err := json.Compact(b, raw); err != nil {
		return dst, "must be valid JSON"
	}
	return b.Bytes(), ""
}

// checkConcurrencyKey accepts a string, or a number coerced to the string
// JavaScript's String(number) gives (12 → "12", 1e21 → "1e+21").
func checkConcurrencyKey(dst, raw []byte) ([]byte, string) {
	switch jsonscan.Kind(raw) {
	case "string":
		return append(dst, raw...), ""
	case "number":
		f, ok := jsonscan.FiniteNumber(raw)
		if !ok {
			return dst, "must be a finite number"
		}
		return jsonscan.AppendQuoted(dst, jsNumberString(f)), ""
	}
	return dst, optionKindProblem("must be a string or a number", raw)
}

// checkExternalDeploymentID trims the string as JavaScript's trim() does and
// keeps the trimmed value.
func checkExternalDeploymentID(dst, raw []byte) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a string", raw)
	}
	s := jsonscan.Text(raw)
	t := strings.TrimFunc(s, isJSSpace)
	if jsStringLen([]byte(t)) > optMaxDeploymentIDChars {
		return dst, fmt.Sprintf("is longer than %d characters", optMaxDeploymentIDChars)
	}
	if t == s {
		return append(dst, raw...), ""
	}
	return jsonscan.AppendQuoted(dst, t), ""
}

func checkPayloadType(dst, raw []byte, t *optText) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a non-empty string", raw)
	}
	s := jsonscan.TextBytes(raw)
	switch {
	case len(s) == 0:
		return dst, "must be a non-empty string"
	case len(s) > optMaxPayloadTypeLen:
		return dst, fmt.Sprintf("is longer than %d bytes", optMaxPayloadTypeLen)
	}
	t.payloadType = t.keep(raw)
	return append(dst, raw...), ""
}

// checkTags accepts one tag or an array of at most optMaxTags tags, each at
// most optMaxTagChars characters.
func checkTags(dst, raw []byte, t *optText) ([]byte, string) {
	checkTag := func(v []byte) bool { return jsStringLen(jsonscan.TextBytes(v)) <= optMaxTagChars }
	switch jsonscan.Kind(raw) {
	case "string":
		if !checkTag(raw) {
			return dst, fmt.Sprintf("is longer than %d characters", optMaxTagChars)
		}
		t.tags[0], t.ntags = t.keep(raw), 1
		return append(dst, raw...), ""
	case "array":
		start := len(dst)
		dst = append(dst, '[')
		n := 0
		it := jsonscan.Array(raw)
		for v, ok := it.Next(); ok; v, ok = it.Next() {
			if jsonscan.Kind(v) != "string" {
				return dst[:start], fmt.Sprintf("[%d] must be a string, got %s", n, jsonscan.Kind(v))
			}
			if !checkTag(v) {
				return dst[:start], fmt.Sprintf("[%d] is longer than %d characters", n, optMaxTagChars)
			}
			if n == optMaxTags {
				return dst[:start], fmt.Sprintf("must have at most %d tags", optMaxTags)
			}
			t.tags[n] = t.keep(v)
			if n++; n > 1 {
				dst = append(dst, ',')
			}
			dst = append(dst, v...)
		}
		t.ntags = n
		return append(dst, ']'), ""
	}
	return dst, optionKindProblem("must be a string or an array of strings", raw)
}

// checkTTL accepts a duration string or a non-negative integer of seconds.
func checkTTL(dst, raw []byte, o *ItemOptions) ([]byte, string) {
	switch jsonscan.Kind(raw) {
	case "string":
		d, err := ParseTriggerDuration(string(jsonscan.TextBytes(raw)))
		if err != nil {
			return dst, `must be a duration such as "10m" or "1h", or a number of seconds`
		}
		o.TTL = d
		return append(dst, raw...), ""
	case "number":
		if n, ok := jsonscan.NonNegInt(raw, optMaxSafeInt); ok {
			o.TTL = time.Duration(n) * time.Second
			return strconv.AppendInt(dst, n, 10), ""
		}
	}
	return dst, "must be a string or a non-negative integer, got " + optErrValue(raw)
}
