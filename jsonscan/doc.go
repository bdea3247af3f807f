// Package jsonscan walks JSON text without decoding it into values:
// validation, skipping whitespace, strings and whole values, walking an
// object's members or an array's elements, naming a value's kind, reading
// a number, and decoding or encoding one string. The NDJSON reader's
// index/task sniffing, the Phase 2 item decoder, the item options schema
// (batch) and the Go client's payload handling all build on it, so there
// is one implementation of JSON's lexical rules, tuned for megabyte-sized
// string payloads (8 bytes at a time where no quote, backslash or control
// byte appears).
//
// It is a public package because the Go client, which users import, builds
// on it. It owns JSON's syntax only: what an item, an option or an index
// means is for its callers (ingest, ndjson, batch, client), and it imports nothing
// of the module.
package jsonscan
