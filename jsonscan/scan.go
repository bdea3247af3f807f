package jsonscan

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// IsSpace reports whether c is JSON whitespace.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// TrimSpace returns b without its leading and trailing JSON whitespace.
func TrimSpace(b []byte) []byte {
	b = b[SkipSpace(b, 0):]
	for len(b) > 0 && IsSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// SkipSpace returns the offset of the first non-whitespace byte at or
// after i.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && IsSpace(b[i]) {
		i++
	}
	return i
}

// SkipString returns the offset just after the string whose opening quote
// is at b[i], or -1 when it is cut off by the end of b or holds a control
// byte.
func SkipString(b []byte, i int) int {
	j := i + 1
	for j < len(b) {
		for j+8 <= len(b) && plainBytes(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		if j >= len(b) {
			break
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1
		case c == '\\':
			j += 2
		case c < 0x20:
			return -1
		default:
			j++
		}
	}
	return -1
}

// SkipValue returns the offset just after the value starting at b[i], or
// -1 when it is cut off by the end of b or starts with a delimiter. A
// number or literal counts as complete only when a delimiter follows it
// inside b. Nested values are skipped by counting brackets: the text must
// be valid JSON (Valid) or a prefix of it.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); {
			switch b[j] {
			case '"':
				if j = SkipString(b, j); j < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return -1
	case '}', ']', ',', ':':
		return -1
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ':', ' ', '\t', '\n', '\r':
			return j
		case '"', '{', '[':
			return -1
		}
	}
	return -1
}

// Hex4 decodes the four hex digits at the start of b.
func Hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// UnicodeEscape decodes the \uXXXX escape that s begins with, joining a
// UTF-16 surrogate pair written as two escapes. n is the number of bytes
// decoded: 6, 12 for a pair, or 0 when the four hex digits are missing. A
// surrogate escape that is not half of a pair decodes to U+FFFD (as in
// encoding/json) with lone true.
func UnicodeEscape(s []byte) (r rune, n int, lone bool) {
	r, ok := Hex4(s[min(2, len(s)):])
	if !ok {
		return 0, 0, false
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, false
	}
	if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
		if r2, ok := Hex4(s[8:]); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12, false
			}
		}
	}
	return utf8.RuneError, 6, true
}

// Unquote decodes a JSON string given with its quotes. A lone surrogate
// escape becomes U+FFFD, as in encoding/json; ok is false for an unknown
// or short escape (impossible in valid JSON).
func Unquote(raw []byte) (string, bool) {
	if len(raw) < 2 {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	k := bytes.IndexByte(s, '\\')
	if k < 0 {
		return string(s), true
	}
	buf, ok := unescape(s, k)
	return unsafe.String(unsafe.SliceData(buf), len(buf)), ok // buf is not used again
}

// UnquoteBytes is Unquote returning bytes, which alias raw when the string
// holds no escape (then they must not be kept beyond raw).
func UnquoteBytes(raw []byte) ([]byte, bool) {
	if len(raw) < 2 {
		return nil, false
	}
	s := raw[1 : len(raw)-1]
	k := bytes.IndexByte(s, '\\')
	if k < 0 {
		return s, true
	}
	return unescape(s, k)
}

// Text returns the text of a JSON string of validated JSON text (Valid
// passed it, so its escapes are known good): Unquote without the check.
func Text(raw []byte) string {
	s, _ := Unquote(raw)
	return s
}

// TextBytes is Text as bytes; it may alias raw, so it must not be kept.
func TextBytes(raw []byte) []byte {
	b, _ := UnquoteBytes(raw)
	return b
}

// unescape decodes the text s of a JSON string (without its quotes) whose
// first backslash is at s[k] into a new buffer.
func unescape(s []byte, k int) ([]byte, bool) {
	// One pass, copying the runs between escapes; payloads such as the
	// trigger.dev SDK's superjson text have an escape every few bytes, so
	// the runs are found with a plain loop rather than a call per run.
	buf := make([]byte, k, len(s)) // unescaping never lengthens the text
	copy(buf, s[:k])
	for i := k; i < len(s); {
		j := i
		for j < len(s) && s[j] != '\\' {
			j++
		}
		buf = append(buf, s[i:j]...)
		if j >= len(s) {
			break
		}
		i = j
		if len(s)-i < 2 {
			return nil, false
		}
		n := 2
		switch c := s[i+1]; c {
		case '"', '\\', '/':
			buf = append(buf, c)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			var r rune
			if r, n, _ = UnicodeEscape(s[i:]); n == 0 {
				return nil, false
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, false
		}
		i += n
	}
	return buf, true
}
