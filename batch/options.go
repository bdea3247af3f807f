package batch

import (
	"bytes"
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

// optMetadata is the position of "metadata" in itemOptions.
const optMetadata = 10

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
		return 3
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
	b := jsonStringBytes(raw)
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
	return checkOptString(dst, raw) // idempotencyKeyTTL, lockToVersion, metadataType, parentAttempt, region
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
		if k := optionIndex(jsonStringBytes(key)); k >= 0 {
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

// optionKindProblem completes a type problem with the kind of value received.
func optionKindProblem(what string, raw []byte) string {
	return what + ", got " + jsonscan.Kind(raw)
}

// optErrValue quotes raw JSON in a problem, cut to optMaxErrValueLen bytes.
func optErrValue(raw []byte) string { return jsonscan.Excerpt(raw, optMaxErrValueLen) }

// jsonStringBytes returns the unescaped text of a raw JSON string of valid
// JSON text; it may alias raw, so it must not be kept.
func jsonStringBytes(raw []byte) []byte {
	b, _ := jsonscan.UnquoteBytes(raw)
	return b
}

// unquote decodes a string of valid JSON text.
func unquote(raw []byte) string {
	s, _ := jsonscan.Unquote(raw)
	return s
}

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
	if jsStringLen(jsonStringBytes(raw)) > max {
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

func checkOptEnum(values ...string) check {
	problem := "must be one of " + strings.Join(values, ", ")
	return func(dst, raw []byte) ([]byte, string) {
		if jsonscan.Kind(raw) != "string" {
			return dst, optionKindProblem(problem, raw)
		}
		s := jsonStringBytes(raw)
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
	s := unquote(raw)
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
	s := jsonStringBytes(raw)
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
	checkTag := func(v []byte) bool { return jsStringLen(jsonStringBytes(v)) <= optMaxTagChars }
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
		d, err := ParseTriggerDuration(string(jsonStringBytes(raw)))
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

// nestedOption is one known key of an object-valued option.
type nestedOption struct {
	name     string
	required bool
	check    check
}

// maxNestedOptions bounds the known keys of an object-valued option.
const maxNestedOptions = 4

// checkNestedObject checks an object-valued option against its known keys
// (at most maxNestedOptions), dropping unknown ones, and appends the
// reduced object. When got is not nil, it receives the raw value of each
// known key, by position in fields.
func checkNestedObject(dst, raw []byte, fields []nestedOption, got *[maxNestedOptions][]byte) ([]byte, string) {
	if jsonscan.Kind(raw) != "object" {
		return dst, optionKindProblem("must be an object", raw)
	}
	var vals [maxNestedOptions][]byte
	it := jsonscan.Object(raw)
	for key, val, ok := it.Next(); ok; key, val, ok = it.Next() {
		name := jsonStringBytes(key)
		for k := range fields {
			if string(name) == fields[k].name {
				vals[k] = val
			}
		}
	}
	start := len(dst)
	dst = append(dst, '{')
	for k, f := range fields {
		if vals[k] == nil {
			if f.required {
				return dst[:start], "." + f.name + " is required"
			}
			continue
		}
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, f.name...)
		dst = append(dst, '"', ':')
		var p string
		if dst, p = f.check(dst, vals[k]); p != "" {
			return dst[:start], "." + f.name + " " + p
		}
	}
	if got != nil {
		*got = vals
	}
	return append(dst, '}'), ""
}

var optIdempotencyKeyOptionsFields = []nestedOption{
	{"key", true, checkOptString},
	{"scope", true, checkOptEnum("run", "attempt", "global")},
}

var optQueueFields = []nestedOption{
	{"name", true, checkQueueName},
	{"concurrencyLimit", false, checkOptNonNegInt(optMaxInt)},
}

// checkQueue keeps options.queue.name, the queue the run goes to.
func checkQueue(dst, raw []byte, t *optText) ([]byte, string) {
	var got [maxNestedOptions][]byte
	dst, p := checkNestedObject(dst, raw, optQueueFields, &got)
	if p == "" {
		t.queue = t.keep(got[0])
	}
	return dst, p
}

// checkQueueName accepts a name that can become part of a task queue
// (runs.<env>.<name>).
func checkQueueName(dst, raw []byte) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a string", raw)
	}
	if !ValidQueueName(string(jsonStringBytes(raw))) {
		return dst, "must be 1–128 letters, digits and . _ - / : characters"
	}
	return append(dst, raw...), ""
}

var optGateFields = []nestedOption{
	{"queue", true, checkOptStringChars(1, 128)},
	{"concurrencyKey", false, checkOptStringChars(1, 128)},
}

// checkGates accepts trigger.dev's gates: at most 3 {queue, concurrencyKey?}.
func checkGates(dst, raw []byte) ([]byte, string) {
	return checkOptArray(dst, raw, 3, func(dst, v []byte) ([]byte, string) { return checkNestedObject(dst, v, optGateFields, nil) })
}

// checkConcurrency accepts trigger.dev's concurrency limit names: at most 2
// of 1–122 letters, digits, _ and -.
func checkConcurrency(dst, raw []byte) ([]byte, string) {
	return checkOptArray(dst, raw, 2, func(dst, v []byte) ([]byte, string) {
		if jsonscan.Kind(v) != "string" {
			return dst, optionKindProblem("must be a string", v)
		}
		name := jsonStringBytes(v)
		ok := len(name) >= 1 && len(name) <= 122
		for _, c := range name {
			ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-')
		}
		if !ok {
			return dst, "must be 1-122 letters, digits, underscores and hyphens"
		}
		return append(dst, v...), ""
	})
}

// checkOptArray checks an array of at most max elements with check.
func checkOptArray(dst, raw []byte, max int, check func(dst, v []byte) ([]byte, string)) ([]byte, string) {
	if jsonscan.Kind(raw) != "array" {
		return dst, optionKindProblem("must be an array", raw)
	}
	start := len(dst)
	dst = append(dst, '[')
	n := 0
	it := jsonscan.Array(raw)
	for v, ok := it.Next(); ok; v, ok = it.Next() {
		if n++; n > max {
			return dst[:start], fmt.Sprintf("must have at most %d elements", max)
		}
		if n > 1 {
			dst = append(dst, ',')
		}
		var p string
		if dst, p = check(dst, v); p != "" {
			return dst[:start], fmt.Sprintf("[%d] %s", n-1, strings.TrimPrefix(p, "."))
		}
	}
	return append(dst, ']'), ""
}

// checkOptStringChars accepts a string of min to max characters.
func checkOptStringChars(min, max int) check {
	return func(dst, raw []byte) ([]byte, string) {
		if jsonscan.Kind(raw) != "string" {
			return dst, optionKindProblem("must be a string", raw)
		}
		if n := jsStringLen(jsonStringBytes(raw)); n < min || n > max {
			return dst, fmt.Sprintf("must be %d to %d characters", min, max)
		}
		return append(dst, raw...), ""
	}
}

// checkDelay accepts a duration string ("30s", "1h30m", "2d") or an RFC
// 3339 date, the forms a run's start can be delayed by.
func checkDelay(dst, raw []byte, o *ItemOptions) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a string", raw)
	}
	v := string(jsonStringBytes(raw))
	if d, err := ParseTriggerDuration(v); err == nil {
		o.Delay = d
	} else if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		o.DelayUntil = t
	} else {
		return dst, `must be a duration such as "30s", "10m" or "1h30m", or an RFC 3339 date`
	}
	return append(dst, raw...), ""
}

var optDebounceFields = []nestedOption{
	{"key", true, checkOptStringMaxChars(optMaxDebounceKeyChars)},
	{"delay", true, checkOptString},
	{"mode", false, checkOptEnum("leading", "trailing")},
	{"maxDelay", false, checkOptString},
}

// isJSSpace reports whether JavaScript's String.prototype.trim removes r
// (WhiteSpace and LineTerminator of ECMAScript).
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// TagChars is tag's length in JavaScript characters (UTF-16 code units),
// what MaxTagChars bounds.
func TagChars(tag string) int { return jsStringLen([]byte(tag)) }

// jsNumberString formats f as JavaScript's Number.prototype.toString does
// (ECMAScript Number::toString, radix 10). f must be finite.
func jsNumberString(f float64) string {
	if f == 0 {
		return "0" // also -0
	}
	var sign string
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest round-trip digits, as "d.ddde±x".
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expStr)
	k, n := len(digits), exp+1 // value = 0.digits × 10^n
	var s string
	switch {
	case k <= n && n <= 21:
		s = digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		s = digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		s = "0." + strings.Repeat("0", -n) + digits
	default:
		es := "e+"
		if n-1 < 0 {
			es = "e-"
		}
		x := n - 1
		if x < 0 {
			x = -x
		}
		s = digits[:1]
		if k > 1 {
			s += "." + digits[1:]
		}
		s += es + strconv.Itoa(x)
	}
	return sign + s
}
