package jsonscan

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Kind names the type of a raw JSON value by its first byte: "object",
// "array", "string", "boolean", "null", "number", or "nothing" for no
// bytes. It does not check the rest of the value.
func Kind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// Members walks the members of a raw JSON object, in order, without
// decoding them. Its zero value walks nothing; see Object.
type Members struct {
	b    []byte
	pos  int
	more bool // a member was returned: a ',' must come before the next
}

// Object returns the walk of the object that obj begins with (obj[0] is
// '{'). obj may be valid JSON text or a prefix of it cut anywhere.
func Object(obj []byte) Members { return Members{b: obj, pos: 1} }

// Next returns the next member's raw key (with its quotes) and raw value.
// ok is false at the end of the object and at the first token that is
// malformed or cut off by the end of the text; when only the member's value
// is (the value starts but does not end within the text), key is still
// returned, with a nil val, so that a scan of a prefix can tell the key was
// there. After ok is false, Next returns nothing more.
func (m *Members) Next() (key, val []byte, ok bool) {
	b := m.b
	i := SkipSpace(b, m.pos)
	m.pos = len(b)
	if m.more {
		if i >= len(b) || b[i] != ',' {
			return nil, nil, false
		}
		i = SkipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	ke := SkipString(b, i)
	if ke < 0 {
		return nil, nil, false
	}
	j := SkipSpace(b, ke)
	if j >= len(b) || b[j] != ':' {
		return nil, nil, false
	}
	if j = SkipSpace(b, j+1); j >= len(b) {
		return nil, nil, false
	}
	ve := SkipValue(b, j)
	if ve < 0 {
		return b[i:ke], nil, false
	}
	m.pos, m.more = ve, true
	return b[i:ke], b[j:ve], true
}

// Elements walks the elements of a raw JSON array, in order, without
// decoding them. Its zero value walks nothing; see Array.
type Elements struct {
	b    []byte
	pos  int
	more bool // an element was returned: a ',' must come before the next
}

// Array returns the walk of the array that arr begins with (arr[0] is
// '['). arr may be valid JSON text or a prefix of it cut anywhere.
func Array(arr []byte) Elements { return Elements{b: arr, pos: 1} }

// Next returns the next element's raw value. ok is false at the end of the
// array and at the first token that is malformed or cut off by the end of
// the text; after that Next returns nothing more.
func (e *Elements) Next() (val []byte, ok bool) {
	b := e.b
	i := SkipSpace(b, e.pos)
	e.pos = len(b)
	if e.more {
		if i >= len(b) || b[i] != ',' {
			return nil, false
		}
		i = SkipSpace(b, i+1)
	}
	ve := SkipValue(b, i) // -1 for the closing ']'
	if ve < 0 {
		return nil, false
	}
	e.pos, e.more = ve, true
	return b[i:ve], true
}

// ParseDigits parses a JSON number written with digits only (no sign,
// fraction or exponent; no leading zero) whose value fits in an int. ok is
// false for any other text.
func ParseDigits(lit []byte) (n int, ok bool) {
	if len(lit) == 0 || lit[0] == '0' && len(lit) > 1 {
		return 0, false
	}
	for _, c := range lit {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// NonNegInt parses a JSON number that denotes a non-negative integer no
// greater than max. Like JavaScript it reads the number as a float64, so
// 3, 3.0, 3e0 and 30e-1 are all the integer 3, and -0 is 0.
func NonNegInt(raw []byte, max int64) (int64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	// Fast path: digits only, read exactly.
	if n, ok := ParseDigits(raw); ok {
		return int64(n), int64(n) <= max
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < 0 || f != math.Trunc(f) || f > float64(max) {
		return 0, false
	}
	return int64(f), true
}

// FiniteNumber parses a JSON number, refusing values that overflow float64
// (JavaScript would read them as ±Infinity).
func FiniteNumber(raw []byte) (float64, bool) {
	if Kind(raw) != "number" {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// Excerpt returns raw JSON text for a message, cut to at most max bytes at
// a rune boundary ("..." marks a cut).
func Excerpt(raw []byte, max int) string {
	if len(raw) <= max {
		return string(raw)
	}
	n := max
	for n > 0 && !utf8.RuneStart(raw[n]) {
		n--
	}
	return string(raw[:n]) + "..."
}
