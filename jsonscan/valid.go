package jsonscan

import "encoding/binary"

// Valid reports whether data is exactly one JSON value (surrounded by
// optional whitespace), with encoding/json.Valid's rules. It is a
// recursive-descent checker whose string scan is a tight byte loop, several
// times faster than encoding/json's state machine on the megabyte-sized
// string payloads Phase 2 carries.
func Valid(data []byte) bool {
	v := jsonValidator{data: data}
	i, ok := v.value(SkipSpace(data, 0), 0)
	return ok && SkipSpace(data, i) == len(data)
}

// maxJSONDepth bounds nesting, as encoding/json does, so a hostile line
// cannot exhaust the stack.
const maxJSONDepth = 10000

type jsonValidator struct{ data []byte }

// value checks the value starting at i and returns the index after it.
func (v *jsonValidator) value(i, depth int) (int, bool) {
	d := v.data
	if i >= len(d) {
		return i, false
	}
	switch c := d[i]; {
	case c == '"':
		return v.str(i + 1)
	case c == '{':
		return v.object(i+1, depth+1)
	case c == '[':
		return v.array(i+1, depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number(i)
	case c == 't':
		return v.literal(i, "true")
	case c == 'f':
		return v.literal(i, "false")
	case c == 'n':
		return v.literal(i, "null")
	}
	return i, false
}

func (v *jsonValidator) literal(i int, lit string) (int, bool) {
	if len(v.data)-i < len(lit) || string(v.data[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// str checks a string whose opening quote is just before i. Eight bytes at
// a time it skips runs without a quote, a backslash or a control byte.
func (v *jsonValidator) str(i int) (int, bool) {
	d := v.data
	for i < len(d) {
		for i+8 <= len(d) && plainBytes(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		if i >= len(d) {
			break
		}
		c := d[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(d) {
				return i, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := Hex4(d[i+2:]); !ok {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default:
			i++
		}
	}
	return i, false
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainJSONBytes reports whether none of the 8 bytes of x is '"', '\\' or
// below 0x20 (bytes ≥ 0x80, parts of UTF-8 sequences, are plain).
func plainBytes(x uint64) bool {
	q := x ^ ('"' * lsb)
	b := x ^ ('\\' * lsb)
	return ((x-0x20*lsb)&^x|(q-lsb)&^q|(b-lsb)&^b)&msb == 0
}

func (v *jsonValidator) number(i int) (int, bool) {
	d := v.data
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	return i, true
}

func (v *jsonValidator) object(i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return i, false
	}
	d := v.data
	i = SkipSpace(d, i)
	if i < len(d) && d[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return i, false
		}
		var ok bool
		if i, ok = v.str(i + 1); !ok {
			return i, false
		}
		i = SkipSpace(d, i)
		if i >= len(d) || d[i] != ':' {
			return i, false
		}
		if i, ok = v.value(SkipSpace(d, i+1), depth); !ok {
			return i, false
		}
		i = SkipSpace(d, i)
		if i >= len(d) {
			return i, false
		}
		switch d[i] {
		case ',':
			i = SkipSpace(d, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func (v *jsonValidator) array(i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return i, false
	}
	d := v.data
	i = SkipSpace(d, i)
	if i < len(d) && d[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = v.value(i, depth); !ok {
			return i, false
		}
		i = SkipSpace(d, i)
		if i >= len(d) {
			return i, false
		}
		switch d[i] {
		case ',':
			i = SkipSpace(d, i+1)
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}
