package jsonscan

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Quote returns s as a JSON string. Text without a quote, backslash,
// control byte or invalid UTF-8 (any payload of plain text) is wrapped in
// quotes as it is, checked by SkipString; other text is encoded by
// encoding/json. Either way the result decodes back to s (invalid UTF-8
// aside, which encoding/json replaces with U+FFFD).
func Quote(s string) []byte {
	q := make([]byte, 0, len(s)+2)
	q = append(q, '"')
	q = append(q, s...)
	q = append(q, '"')
	if SkipString(q, 0) == len(q) && bytes.IndexByte(q, '\\') < 0 && utf8.Valid(q) {
		return q
	}
	b, _ := json.Marshal(s)
	return b
}
