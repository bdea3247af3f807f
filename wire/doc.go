// Package wire holds the JSON bodies of streambatch's HTTP API: the
// requests and answers of its batch, run and upload routes (trigger.dev v3
// batch API compatible, plus streambatch's own status, missing, abort and
// replay routes) and the answers of the trigger.dev read routes the
// unchanged SDK parses. The server (package api) encodes them, the Go client
// (package client) and the tests decode them: each body is declared once.
//
// It declares types only, with their field names, omitempty flags and field
// order, which are the wire format: changing one changes what clients see.
// It does no I/O and imports only the standard library and the vocabulary
// (package batch).
package wire
