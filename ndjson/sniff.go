package ndjson

import (
	"bytes"
	"math"
	"unicode/utf8"

	"github.com/streambatch/streambatch/internal/jsonscan"
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
	i := jsonscan.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = jsonscan.SkipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return // '}' (end of object), truncation or malformed
		}
		keyEnd := jsonscan.SkipString(b, i)
		if keyEnd < 0 {
			return
		}
		key := b[i+1 : keyEnd-1]
		i = jsonscan.SkipSpace(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = jsonscan.SkipSpace(b, i+1)
		if i >= len(b) {
			return
		}
		var end int
		switch {
		case keyIs(key, "index"):
			index, indexOK, end = parseIndex(b, i)
		case keyIs(key, "task"):
			task, taskOK, end = "", false, jsonscan.SkipValue(b, i)
			if b[i] == '"' && end > 0 {
				task, taskOK = decodeString(b[i:end])
			}
		default:
			end = jsonscan.SkipValue(b, i)
		}
		if end < 0 {
			return
		}
		i = jsonscan.SkipSpace(b, end)
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
	s, ok := decodeString(append(append([]byte{'"'}, raw...), '"'))
	return ok && s == name
}

// parseIndex parses the value at b[i] as an index: a JSON integer made of
// digits only that fits in an int. end is the offset after the value, or
// -1 when the value is truncated or malformed.
func parseIndex(b []byte, i int) (v int, ok bool, end int) {
	end = jsonscan.SkipValue(b, i)
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

// decodeString decodes a JSON string given with its quotes; ok is false
// for an invalid escape or invalid UTF-8.
func decodeString(raw []byte) (string, bool) {
	if !utf8.Valid(raw) {
		return "", false
	}
	return jsonscan.Unquote(raw)
}
