package batch

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streambatch/streambatch/jsonscan"
)

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
		name := jsonscan.TextBytes(key)
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
	if !ValidQueueName(string(jsonscan.TextBytes(raw))) {
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
		name := jsonscan.TextBytes(v)
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
		if n := jsStringLen(jsonscan.TextBytes(raw)); n < min || n > max {
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
	v := string(jsonscan.TextBytes(raw))
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
