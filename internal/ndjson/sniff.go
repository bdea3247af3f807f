package ndjson

import (
	"unicode/utf8"

	"github.com/streambatch/streambatch/jsonscan"
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
	m := jsonscan.Object(b[i:])
	for {
		// A value cut off by the window comes with its key: as the last
		// occurrence of the key it decides, and refuses.
		key, val, ok := m.Next()
		switch {
		case key == nil: // '}' (end of object), truncation or malformed
			return
		case keyIs(key, "index"):
			index, indexOK = jsonscan.ParseDigits(val)
		case keyIs(key, "task"):
			task, taskOK = "", false
			if len(val) > 0 && val[0] == '"' {
				task, taskOK = decodeString(val)
			}
		}
		if !ok {
			return
		}
	}
}

// keyIs reports whether the raw key (with its quotes) decodes to name.
func keyIs(raw []byte, name string) bool {
	s, ok := jsonscan.UnquoteBytes(raw)
	return ok && string(s) == name
}

// decodeString decodes a JSON string given with its quotes; ok is false
// for an invalid escape or invalid UTF-8.
func decodeString(raw []byte) (string, bool) {
	if !utf8.Valid(raw) {
		return "", false
	}
	return jsonscan.Unquote(raw)
}
