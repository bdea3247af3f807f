package ingest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/jsonscan"
)

// itemRules are the per-batch rules an item is checked against.
type itemRules struct {
	runCount int    // valid indexes are [0, runCount)
	env      string // environment name, for application/store paths
	// uploadsOf, when set, is the only batch whose uploads an
	// application/store path may name (batch.UploadedFor).
	uploadsOf string
	// tasks, when not nil, are the only tasks an item may name.
	tasks []string
}

// maxTaskLen bounds a task identifier (bytes).
const maxTaskLen = 256

// maxItemInt bounds an index: it must stay below 2^31.
const maxItemInt = 1<<31 - 1

// itemMaxErrValueLen bounds the raw JSON quoted in an error message.
const itemMaxErrValueLen = 40

// decodeItem parses one NDJSON line (already trimmed, valid UTF-8, non-empty)
// at physical line number `line` into a batch.Item, validating it. It does
// not retain data (the caller reuses the buffer): everything it keeps is
// copied.
//
// The line is scanned once for validity (jsonscan.Valid) and then walked without
// building any intermediate value: a payload that is a JSON string without
// escapes is copied straight from the line, one with escapes is unescaped
// into a single allocation, and any other payload is copied as raw JSON text.
func decodeItem(line int, data []byte, rules itemRules) (batch.Item, error) {
	if !jsonscan.Valid(data) {
		return batch.Item{}, itemSyntaxError(line, data)
	}
	top := data[jsonscan.SkipSpace(data, 0):] // one value, then space
	if k := jsonscan.Kind(top); k != "object" {
		return batch.Item{}, validationf("Invalid item at line %d: expected a JSON object, got %s", line, k)
	}

	// Duplicate keys: the last one wins, as with JSON.parse.
	var indexRaw, taskRaw, payloadRaw, optionsRaw []byte
	it := jsonscan.Object(top)
	for key, val, ok := it.Next(); ok; key, val, ok = it.Next() {
		switch string(jsonscan.TextBytes(key)) {
		case "index":
			indexRaw = val
		case "task":
			taskRaw = val
		case "payload":
			payloadRaw = val
		case "options":
			optionsRaw = val
		}
	}

	if indexRaw == nil {
		return batch.Item{}, validationf("Invalid item at line %d: index is required", line)
	}
	idx, ok := jsonscan.NonNegInt(indexRaw, maxItemInt)
	if !ok {
		return batch.Item{}, validationf("Invalid item at line %d: index must be a non-negative integer, got %s", line, itemErrValue(indexRaw))
	}
	index := int(idx)
	if index >= rules.runCount {
		return batch.Item{}, validationf("Invalid item at index %d (line %d): index is out of range, the batch has runCount %d", index, line, rules.runCount)
	}
	invalid := func(format string, args ...any) error {
		return validationf("Invalid item at index %d (line %d): %s", index, line, fmt.Sprintf(format, args...))
	}

	if taskRaw == nil {
		return batch.Item{}, invalid("task is required")
	}
	if jsonscan.Kind(taskRaw) != "string" {
		return batch.Item{}, invalid("task must be a non-empty string, got %s", jsonscan.Kind(taskRaw))
	}
	// An escape takes at most 6 bytes per decoded byte: a longer raw task
	// cannot fit, and need not be decoded.
	if len(taskRaw)-2 > 6*maxTaskLen {
		return batch.Item{}, invalid("task is longer than %d bytes", maxTaskLen)
	}
	task := jsonscan.Text(taskRaw)
	if problem := validTask(task); problem != "" {
		return batch.Item{}, invalid("%s", problem)
	}
	if rules.tasks != nil && !slices.Contains(rules.tasks, task) {
		return batch.Item{}, invalid("task %s is not one of the batch's taskIdentifiers, which the public access token that created it may trigger", itemErrValue(taskRaw))
	}

	item := batch.Item{Index: index, Task: task, PayloadType: batch.PayloadTypeJSON}

	if optionsRaw != nil && jsonscan.Kind(optionsRaw) != "null" {
		opts, problem := batch.ParseItemOptions(optionsRaw)
		if problem != "" {
			return batch.Item{}, invalid("%s", problem)
		}
		item.Options = opts.JSON
		if opts.PayloadType != "" {
			item.PayloadType = opts.PayloadType
		}
	}

	hasPayload := payloadRaw != nil && jsonscan.Kind(payloadRaw) != "null"
	switch {
	case item.PayloadType == batch.PayloadTypeStore:
		if !hasPayload || jsonscan.Kind(payloadRaw) != "string" {
			return batch.Item{}, invalid("application/store payload must be a string path")
		}
		path := jsonscan.Text(payloadRaw)
		key, err := batch.StoreRefKey(rules.env, path)
		if err != nil {
			return batch.Item{}, invalid("payload is not a valid application/store path")
		}
		if rules.uploadsOf != "" && !batch.UploadedFor(rules.uploadsOf, path) {
			return batch.Item{}, invalid("application/store payload %s was not uploaded for this batch: "+
				"a stream sent with a public access token may reference only the batch's own uploads (%s…, "+
				"what PUT /api/v2/packets/<filename> returns as storagePath for the same token)",
				itemErrValue(payloadRaw), batch.UploadPrefix(rules.uploadsOf))
		}
		item.Payload = &key
	case !hasPayload:
		// No payload: Payload stays nil.
	case payloadRaw[0] == '"':
		p := jsonscan.Text(payloadRaw)
		item.Payload = &p
	default:
		p := string(payloadRaw)
		item.Payload = &p
	}
	return item, nil
}

// validTask returns what is wrong with a task identifier, or "".
func validTask(task string) string {
	switch {
	case task == "":
		return "task must be a non-empty string"
	case len(task) > maxTaskLen:
		return fmt.Sprintf("task is longer than %d bytes", maxTaskLen)
	case !utf8.ValidString(task):
		return "task must be valid UTF-8"
	case strings.IndexFunc(task, unicode.IsControl) >= 0:
		return "task must not contain control characters"
	}
	return ""
}

// itemSyntaxError builds the SyntaxError of a line jsonscan.Valid refused, with
// the encoding/json parser's description of the problem.
func itemSyntaxError(line int, data []byte) error {
	msg := "invalid JSON"
	// Unmarshal checks the whole input before decoding anything, so into an
	// empty struct it only reports the syntax error.
	if err := json.Unmarshal(data, &struct{}{}); err != nil {
		msg = err.Error()
	}
	return &SyntaxError{Line: line, Msg: fmt.Sprintf("Invalid JSON at line %d: %s", line, msg)}
}

// itemErrValue returns raw JSON for an error message, cut to at most
// itemMaxErrValueLen bytes at a rune boundary ("..." marks a cut).
func itemErrValue(raw []byte) string { return jsonscan.Excerpt(raw, itemMaxErrValueLen) }
