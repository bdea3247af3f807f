// Package jsonscan walks JSON text without decoding it into values:
// validation, skipping whitespace, strings and whole values, and decoding
// one string. The NDJSON reader's index/task sniffing and the Phase 2 item
// decoder both build on it, so there is one implementation of JSON's
// lexical rules, tuned for megabyte-sized string payloads (8 bytes at a
// time where no quote, backslash or control byte appears).
package jsonscan
