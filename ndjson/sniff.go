package ndjson

import (
	"bytes"
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

// Sniff extracts the top-level "index" and "task" members from the
// beginning of a JSON object, typically Record.Head of an oversized line.
// It scans at most the first 512 bytes of head and decodes nothing else.
//
// index is reported only for a non-negative integer literal (digits only,
// no sign, fraction or exponent) that fits in an int and is terminated
// within the window; task only for a JSON string closed within the window,
// with its escapes decoded. Members of nested objects and arrays are
// ignored, member order does not matter, and a key or value is never
// matched inside another string. If a key occurs more than once within the
// window, the last occurrence decides, as in JSON decoders. Scanning stops
// at the end of the top-level object, at the end of the window, or at the
// first malformed token; what was found before that is kept.
func Sniff(head []byte) (index int, indexOK bool, task string, taskOK bool) {
	b := head
	if len(b) > headSize {
		b = b[:headSize]
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return // '}' (end of object), truncation or malformed
		}
		keyEnd := skipString(b, i)
		if keyEnd < 0 {
			return
		}
		key := b[i+1 : keyEnd-1]
		i = skipWS(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return
		}
		var end int
		switch {
		case keyIs(key, "index"):
			index, indexOK, end = parseIndex(b, i)
		case keyIs(key, "task"):
			task, taskOK, end = "", false, skipValue(b, i)
			if b[i] == '"' && end > 0 {
				task, taskOK = decodeString(b[i+1 : end-1])
			}
		default:
			end = skipValue(b, i)
		}
		if end < 0 {
			return
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

// keyIs reports whether the raw (still escaped) key content equals name.
func keyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	s, ok := decodeString(raw)
	return ok && s == name
}

// parseIndex parses the value at b[i] as an index: a JSON integer made of
// digits only that fits in an int. end is the offset after the value, or
// -1 when the value is truncated or malformed.
func parseIndex(b []byte, i int) (v int, ok bool, end int) {
	end = skipValue(b, i)
	if end < 0 {
		return 0, false, -1
	}
	lit := b[i:end]
	if len(lit) == 0 || (lit[0] == '0' && len(lit) > 1) {
		return 0, false, end
	}
	for _, c := range lit {
		if c < '0' || c > '9' {
			return 0, false, end // sign, fraction, exponent or not a number
		}
		d := int(c - '0')
		if v > (math.MaxInt-d)/10 {
			return 0, false, end
		}
		v = v*10 + d
	}
	return v, true, end
}

// skipWS returns the offset of the first non-JSON-whitespace byte at or
// after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the offset just after the JSON value starting at b[i],
// or -1 if it is truncated by the end of b or malformed. Scalars other than
// strings must be followed by a delimiter inside b, so a number cut off by
// the window is treated as truncated.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				j := skipString(b, i)
				if j < 0 {
					return -1
				}
				i = j
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	case '}', ']', ',', ':':
		return -1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		case '"', '{', '[', ':':
			return -1
		}
		j++
	}
	return -1
}

// skipString returns the offset just after the JSON string whose opening
// quote is at b[i], or -1 if it is truncated or contains a control byte.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1
		case c == '\\':
			j++
		case c < 0x20:
			return -1
		}
	}
	return -1
}

// decodeString decodes the content of a JSON string (without its quotes).
// ok is false for an invalid escape or invalid UTF-8. Lone surrogates
// decode to U+FFFD, as in encoding/json.
func decodeString(raw []byte) (string, bool) {
	if !utf8.Valid(raw) {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw), true
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(raw) {
			return "", false
		}
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r1, ok := hex4(raw, i+1)
			if !ok {
				return "", false
			}
			i += 4
			r := r1
			if utf16.IsSurrogate(r1) {
				r = utf8.RuneError
				if i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if r2, ok := hex4(raw, i+3); ok {
						if dec := utf16.DecodeRune(r1, r2); dec != utf8.RuneError {
							r = dec
							i += 6
						}
					}
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return string(out), true
}

// hex4 parses the four hex digits at raw[i:i+4].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
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
