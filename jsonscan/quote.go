package jsonscan

import (
	"bytes"
	"unicode/utf8"
)

// Quote returns s as a JSON string. Text without a quote, backslash,
// control byte or invalid UTF-8 (any payload of plain text) is wrapped in
// quotes as it is, checked by SkipString 8 bytes at a time; other text is
// encoded by AppendQuoted. Either way the result decodes back to s
// (invalid UTF-8 aside, which becomes U+FFFD as with encoding/json).
func Quote(s string) []byte {
	q := make([]byte, 0, len(s)+2)
	q = append(q, '"')
	q = append(q, s...)
	q = append(q, '"')
	if SkipString(q, 0) == len(q) && bytes.IndexByte(q, '\\') < 0 && utf8.Valid(q) {
		return q
	}
	return AppendQuoted(q[:0], s)
}

// AppendQuoted appends s as a JSON string, escaping only what JSON
// requires (no HTML escaping, unlike encoding/json); invalid UTF-8 becomes
// U+FFFD.
func AppendQuoted(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
