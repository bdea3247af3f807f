package ingest

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/ndjson"
	"github.com/streambatch/streambatch/jsonscan"
)

// oversizedItem turns an oversized-line marker into a pre-failed item. Its
// index comes from the first 512 bytes of the line or, when it cannot be
// read there, from the line's emit position; it must be in range like any
// other index.
func oversizedItem(rec ndjson.Record, rules itemRules, maxBytes int) (batch.Item, error) {
	index, ok, task, taskOK := ndjson.Sniff(rec.Head)
	if !ok {
		index = rec.Seq
	}
	if !taskOK || validTask(task) != "" {
		task = "unknown"
	}
	if index >= rules.runCount {
		return batch.Item{}, validationf("Invalid item at index %d (line %d): the line is too large (%d bytes) and its index is out of range, the batch has runCount %d",
			index, rec.Line, rec.Size, rules.runCount)
	}
	return batch.Item{
		Index:       index,
		Task:        task,
		PayloadType: batch.PayloadTypeJSON,
		ErrorCode:   batch.ErrorPayloadTooLarge,
		ErrorMessage: fmt.Sprintf("Batch item payload is too large (%.1f KB). Maximum allowed size is %.1f KB. Offload large payloads to object storage and pass a reference instead.",
			float64(rec.Size)/1024, float64(maxBytes)/1024),
	}, nil
}

// checkStorable refuses what PostgreSQL text and jsonb columns cannot hold:
// a NUL character in an inline payload or the payload type, and in the
// options (jsonb) the escape \u0000 or a lone UTF-16 surrogate escape.
func checkStorable(line int, it *batch.Item) error {
	if it.Payload != nil && it.PayloadType != batch.PayloadTypeStore && strings.IndexByte(*it.Payload, 0) >= 0 {
		return validationf("Invalid item at index %d (line %d): payload contains the character U+0000, which cannot be stored", it.Index, line)
	}
	if strings.IndexFunc(it.PayloadType, unicode.IsControl) >= 0 {
		return validationf("Invalid item at index %d (line %d): options.payloadType must not contain control characters", it.Index, line)
	}
	switch jsonBadEscape(it.Options) {
	case badEscapeNUL:
		return validationf("Invalid item at index %d (line %d): options contain the escape \\u0000, which cannot be stored", it.Index, line)
	case badEscapeSurrogate:
		return validationf("Invalid item at index %d (line %d): options contain an unpaired UTF-16 surrogate escape (\\uD800–\\uDFFF), which is not valid Unicode", it.Index, line)
	}
	return nil
}

// Escapes that valid JSON may hold but PostgreSQL's jsonb refuses.
const (
	badEscapeNone = iota
	badEscapeNUL
	badEscapeSurrogate
)

// jsonBadEscape finds, in valid JSON text, a \u0000 escape or a UTF-16
// surrogate escape that is not part of a high+low pair (an escaped
// backslash followed by "u…" does not count).
func jsonBadEscape(raw []byte) int {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // skip the escaped character
			continue
		}
		r, n, lone := jsonscan.UnicodeEscape(raw[i:])
		switch {
		case n == 0:
			n = 6 // not an escape of valid JSON text: skip it
		case lone:
			return badEscapeSurrogate
		case r == 0:
			return badEscapeNUL
		}
		i += n - 1
	}
	return badEscapeNone
}
