package ingest

import (
	"fmt"
	"strings"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/ndjson"
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
	if !taskOK || task == "" {
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
// a NUL character in an inline payload or in the options.
func checkStorable(line int, it *batch.Item) error {
	if it.Payload != nil && it.PayloadType != batch.PayloadTypeStore && strings.IndexByte(*it.Payload, 0) >= 0 {
		return validationf("Invalid item at index %d (line %d): payload contains the character U+0000, which cannot be stored", it.Index, line)
	}
	if jsonHasNULEscape(it.Options) {
		return validationf("Invalid item at index %d (line %d): options contain the escape \\u0000, which cannot be stored", it.Index, line)
	}
	return nil
}

// jsonHasNULEscape reports whether valid JSON text contains the string
// escape \u0000 (an escaped backslash followed by "u0000" does not count).
func jsonHasNULEscape(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] == 'u' && i+5 < len(raw) && string(raw[i+2:i+6]) == "0000" {
			return true
		}
		i++ // skip the escaped character
	}
	return false
}
