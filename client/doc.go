// Package client is the Go client of streambatch (and of any server that
// speaks the trigger.dev v3 batch API). It creates batches, streams items
// lazily from an iterator with bounded memory, retries transient failures
// with exponential backoff and jitter, and after a failed attempt asks the
// server which indexes are still missing and re-sends only those.
//
//	c, _ := client.New("http://127.0.0.1:8080", os.Getenv("STREAMBATCH_API_KEY"))
//	res, err := c.TriggerBatch(ctx, wire.CreateBatchRequest{RunCount: n}, items)
//
// The JSON requests it sends and the answers it returns are the types of
// package wire, which the server itself encodes; Batch and StreamResult add
// what the client learns besides the body. Item, the Phase 2 line it writes
// itself, is its own.
//
// Errors from the server are *APIError (status and message); a batch that
// is still incomplete when attempts run out is *NotSealedError. Both work
// with errors.As.
package client
