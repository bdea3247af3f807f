package batch

import "encoding/json"

// Item is one validated batch item on its way to becoming a run. Chunks carry
// items inline (small chunks) or in a staged object; the enqueue activity
// turns each into one row.
type Item struct {
	// Index is the item's 0-based position in the batch: the dedup and
	// ordering key.
	Index int `json:"i"`
	// Task is the task identifier.
	Task string `json:"t"`
	// Payload is the packet data (a string payload as sent, or the JSON text
	// of any other payload), or the object key when PayloadType is
	// application/store. Nil when the item carried no payload.
	Payload *string `json:"p,omitempty"`
	// PayloadType is the payload's content type (application/json when the
	// item did not say).
	PayloadType string `json:"pt"`
	// PacketSize is the size of the packet object streambatch wrote for this
	// item (payload offloaded during ingest), so the enqueue step can check
	// it; 0 when nothing was offloaded by streambatch.
	PacketSize int64 `json:"ps,omitempty"`
	// Options holds the item's options object, reduced to known keys.
	Options json.RawMessage `json:"o,omitempty"`
	// ErrorCode and ErrorMessage are set on items that become pre-failed
	// runs (see ErrorPayloadTooLarge).
	ErrorCode    string `json:"ec,omitempty"`
	ErrorMessage string `json:"em,omitempty"`
}

// Failed reports whether the item becomes a pre-failed run.
func (it *Item) Failed() bool { return it.ErrorCode != "" }
