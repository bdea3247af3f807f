// Package ndjson splits a newline-delimited JSON stream (the Phase 2 batch
// item body) into lines with memory bounded by the per-line limit, never by
// the size of the body.
//
// It owns the wire rules of that split, compatible with trigger.dev's
// createNdjsonParserStream: lines end at LF (0x0A) only; sizes are counted
// in raw bytes; a line longer than the limit becomes one oversized marker
// (its bytes are discarded, not buffered); other lines must be valid UTF-8,
// are trimmed of surrounding whitespace, and are skipped when blank. Sniff
// recovers the top-level "index" and "task" from the head of an oversized
// line so the caller can report which item it was.
//
// It must not decode JSON (records are handed on as raw bytes; Sniff only
// scans a fixed 512-byte window with jsonscan), and it does no I/O
// beyond reading the io.Reader it is given.
package ndjson
