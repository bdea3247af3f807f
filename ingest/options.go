package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/jsonscan"
)

// Item option limits (trigger.dev's zod schema; "characters" are UTF-16 code
// units, JavaScript's String.length).
const (
	optMaxIdempotencyKeyChars = 2048
	optMaxDeploymentIDChars   = 256
	optMaxPayloadTypeLen      = 256 // bytes
	optMaxTagChars            = 128
	optMaxTags                = 10
	optMaxDebounceKeyChars    = 512
)

// itemOption is one known key of an item's options object. check validates
// the raw value and appends the value to keep (compact JSON) to dst; it
// returns the problem when the value is refused: "must be a string, got
// number", or for a nested field ".name is required" or "[2] must be a
// string, got null".
type itemOption struct {
	name  string
	check func(dst []byte, raw []byte) ([]byte, string)
}

// itemOptions lists the known option keys in the order they are written to
// Item.Options. Any other key (including the internal __error and
// __errorCode) is dropped.
var itemOptions = [...]itemOption{
	{"concurrencyKey", checkConcurrencyKey},
	{"delay", checkDelay},
	{"idempotencyKey", checkOptStringMaxChars(optMaxIdempotencyKeyChars)},
	{"idempotencyKeyTTL", checkOptString},
	{"idempotencyKeyOptions", checkIdempotencyKeyOptions},
	{"lockToVersion", checkOptString},
	{"externalDeploymentId", checkExternalDeploymentID},
	{"machine", checkOptEnum("micro", "small-1x", "small-2x", "medium-1x", "medium-2x", "large-1x", "large-2x")},
	{"maxAttempts", checkOptNonNegInt(maxItemInt)},
	{"maxDuration", checkOptNumber},
	{"metadata", checkOptAny},
	{"metadataType", checkOptString},
	{"parentAttempt", checkOptString},
	{"payloadType", checkPayloadType},
	{"payloadSize", checkOptNonNegInt(maxOptionInt)},
	{"queue", checkQueue},
	{"tags", checkTags},
	{"test", checkOptBool},
	{"ttl", checkTTL},
	{"priority", checkOptNumber},
	{"region", checkOptString},
	{"debounce", checkDebounce},
	{"gates", checkGates},
	{"concurrency", checkConcurrency},
}

// itemOptionIndex maps an option name to its position in itemOptions.
var itemOptionIndex = func() map[string]int {
	m := make(map[string]int, len(itemOptions))
	for k, o := range itemOptions {
		m[o.name] = k
	}
	return m
}()

// decodeItemOptions checks a raw, non-null options value. It returns the
// options reduced to the known keys as a compact JSON object (nil when none
// remain) and the payloadType option ("" when absent). problem is non-empty
// when the options are refused, e.g. "options.tags must have at most 10
// tags"; the caller prefixes the item's position.
func decodeItemOptions(raw []byte) (opts json.RawMessage, payloadType string, problem string) {
	if jsonscan.Kind(raw) != "object" {
		return nil, "", "options must be an object"
	}
	var vals [len(itemOptions)][]byte // the last occurrence of a key wins
	it := jsonscan.Object(raw)
	for key, val, ok := it.Next(); ok; key, val, ok = it.Next() {
		if k, known := itemOptionIndex[string(jsonStringBytes(key))]; known {
			vals[k] = val
		}
	}
	size := 0
	for k, val := range vals {
		if val != nil {
			size += len(itemOptions[k].name) + len(val) + 4
		}
	}
	if size == 0 {
		return nil, "", ""
	}
	out := make([]byte, 0, size+16) // coercions may lengthen a value a little
	out = append(out, '{')
	for k, val := range vals {
		if val == nil {
			continue
		}
		o := &itemOptions[k]
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, o.name...)
		out = append(out, '"', ':')
		var p string
		if out, p = o.check(out, val); p != "" {
			if p[0] != '.' && p[0] != '[' { // nested problems name their field
				p = " " + p
			}
			return nil, "", "options." + o.name + p
		}
		if o.name == "payloadType" {
			payloadType = unquote(val)
		}
	}
	out = append(out, '}')
	return out, payloadType, ""
}

// optionKindProblem completes a type problem with the kind of value received.
func optionKindProblem(what string, raw []byte) string {
	return what + ", got " + jsonscan.Kind(raw)
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

func checkOptStringMaxChars(max int) func(dst, raw []byte) ([]byte, string) {
	return func(dst, raw []byte) ([]byte, string) {
		if jsonscan.Kind(raw) != "string" {
			return dst, optionKindProblem("must be a string", raw)
		}
		if jsStringLen(jsonStringBytes(raw)) > max {
			return dst, fmt.Sprintf("is longer than %d characters", max)
		}
		return append(dst, raw...), ""
	}
}

func checkOptEnum(values ...string) func(dst, raw []byte) ([]byte, string) {
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
		return dst, problem + ", got " + itemErrValue(raw)
	}
}

func checkOptNonNegInt(max int64) func(dst, raw []byte) ([]byte, string) {
	return func(dst, raw []byte) ([]byte, string) {
		n, ok := parseJSONNonNegInt(raw, max)
		if !ok {
			return dst, "must be a non-negative integer, got " + itemErrValue(raw)
		}
		// Canonical form, so 3.0 or 3e0 reach Go decoders as 3.
		return strconv.AppendInt(dst, n, 10), ""
	}
}

func checkOptNumber(dst, raw []byte) ([]byte, string) {
	if _, ok := parseJSONFiniteNumber(raw); !ok {
		if jsonscan.Kind(raw) == "number" {
			return dst, "must be a finite number"
		}
		return dst, optionKindProblem("must be a number", raw)
	}
	return append(dst, raw...), ""
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
		f, ok := parseJSONFiniteNumber(raw)
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

func checkPayloadType(dst, raw []byte) ([]byte, string) {
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
	return append(dst, raw...), ""
}

// checkTags accepts one tag or an array of at most optMaxTags tags, each at
// most optMaxTagChars characters.
func checkTags(dst, raw []byte) ([]byte, string) {
	checkTag := func(v []byte) bool { return jsStringLen(jsonStringBytes(v)) <= optMaxTagChars }
	switch jsonscan.Kind(raw) {
	case "string":
		if !checkTag(raw) {
			return dst, fmt.Sprintf("is longer than %d characters", optMaxTagChars)
		}
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
			if n++; n > optMaxTags {
				return dst[:start], fmt.Sprintf("must have at most %d tags", optMaxTags)
			}
			if n > 1 {
				dst = append(dst, ',')
			}
			dst = append(dst, v...)
		}
		return append(dst, ']'), ""
	}
	return dst, optionKindProblem("must be a string or an array of strings", raw)
}

// checkTTL accepts a duration string or a non-negative integer of seconds.
func checkTTL(dst, raw []byte) ([]byte, string) {
	switch jsonscan.Kind(raw) {
	case "string":
		if _, err := batch.ParseTriggerDuration(string(jsonStringBytes(raw))); err != nil {
			return dst, `must be a duration such as "10m" or "1h", or a number of seconds`
		}
		return append(dst, raw...), ""
	case "number":
		if n, ok := parseJSONNonNegInt(raw, maxOptionInt); ok {
			return strconv.AppendInt(dst, n, 10), ""
		}
	}
	return dst, "must be a string or a non-negative integer, got " + itemErrValue(raw)
}

// nestedOption is one known key of an object-valued option.
type nestedOption struct {
	name     string
	required bool
	check    func(dst, raw []byte) ([]byte, string)
}

// checkNestedObject checks an object-valued option against its known keys,
// dropping unknown ones, and appends the reduced object.
func checkNestedObject(dst, raw []byte, fields []nestedOption) ([]byte, string) {
	if jsonscan.Kind(raw) != "object" {
		return dst, optionKindProblem("must be an object", raw)
	}
	vals := make([][]byte, len(fields))
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
	return append(dst, '}'), ""
}

var optIdempotencyKeyOptionsFields = []nestedOption{
	{"key", true, checkOptString},
	{"scope", true, checkOptEnum("run", "attempt", "global")},
}

func checkIdempotencyKeyOptions(dst, raw []byte) ([]byte, string) {
	return checkNestedObject(dst, raw, optIdempotencyKeyOptionsFields)
}

var optQueueFields = []nestedOption{
	{"name", true, checkQueueName},
	{"concurrencyLimit", false, checkOptNonNegInt(maxItemInt)},
}

var optGateFields = []nestedOption{
	{"queue", true, checkOptStringChars(1, 128)},
	{"concurrencyKey", false, checkOptStringChars(1, 128)},
}

// checkGates accepts trigger.dev's gates: at most 3 {queue, concurrencyKey?}.
func checkGates(dst, raw []byte) ([]byte, string) {
	return checkOptArray(dst, raw, 3, func(dst, v []byte) ([]byte, string) { return checkNestedObject(dst, v, optGateFields) })
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
func checkOptStringChars(min, max int) func(dst, raw []byte) ([]byte, string) {
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

// checkQueueName accepts a name that can become part of a task queue
// (runs.<env>.<name>).
func checkQueueName(dst, raw []byte) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a string", raw)
	}
	if !batch.ValidQueueName(string(jsonStringBytes(raw))) {
		return dst, "must be 1–128 letters, digits and . _ - / : characters"
	}
	return append(dst, raw...), ""
}

// checkDelay accepts a duration string ("30s", "1h30m", "2d") or an RFC
// 3339 date, the forms a run's start can be delayed by.
func checkDelay(dst, raw []byte) ([]byte, string) {
	if jsonscan.Kind(raw) != "string" {
		return dst, optionKindProblem("must be a string", raw)
	}
	v := string(jsonStringBytes(raw))
	if _, err := batch.ParseTriggerDuration(v); err != nil {
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return dst, `must be a duration such as "30s", "10m" or "1h30m", or an RFC 3339 date`
		}
	}
	return append(dst, raw...), ""
}

func checkQueue(dst, raw []byte) ([]byte, string) {
	return checkNestedObject(dst, raw, optQueueFields)
}

var optDebounceFields = []nestedOption{
	{"key", true, checkOptStringMaxChars(optMaxDebounceKeyChars)},
	{"delay", true, checkOptString},
	{"mode", false, checkOptEnum("leading", "trailing")},
	{"maxDelay", false, checkOptString},
}

func checkDebounce(dst, raw []byte) ([]byte, string) {
	return checkNestedObject(dst, raw, optDebounceFields)
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
