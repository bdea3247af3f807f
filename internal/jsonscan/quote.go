package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
	"unsafe"
)

// Quote returns s as a JSON string. Text without a quote, backslash,
// control byte or invalid UTF-8 (any payload of plain text) is wrapped in
// quotes as it is, checked 8 bytes at a time; other text is encoded by
// encoding/json. Either way the result decodes back to s (invalid UTF-8
// aside, which encoding/json replaces with U+FFFD).
func Quote(s string) []byte {
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	i := 0
	for i+8 <= len(b) && plainBytes(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			b, _ := json.Marshal(s)
			return b
		}
	}
	if !utf8.ValidString(s) {
		b, _ := json.Marshal(s)
		return b
	}
	q := make([]byte, 0, len(s)+2)
	q = append(q, '"')
	q = append(q, s...)
	return append(q, '"')
}
