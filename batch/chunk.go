package batch

import "fmt"

// ChunkRef is what the Phase 2 handler signals to a batch's workflow for a
// group of items: their indexes and either the items themselves (a small
// chunk, inline) or the key of a staged object that holds them. Payloads at
// or above the offload threshold are never in a chunk: they are already at
// their packet keys and the items only carry those keys. A ChunkRef is
// therefore small (a few KiB at most) whatever the payload sizes.
type ChunkRef struct {
	// Stream identifies the Phase 2 request that produced the chunk, Seq its
	// position in that request; together they name the staged object.
	Stream string `json:"stream"`
	Seq    int    `json:"seq"`
	// Indexes covers every item in the chunk.
	Indexes Ranges `json:"idx"`
	// Failed lists the indexes of items that become pre-failed runs.
	Failed []int `json:"failed,omitempty"`
	// Items holds the items of an inline chunk.
	Items []Item `json:"items,omitempty"`
	// Key locates a staged chunk object (Items encoded by EncodeItems);
	// empty for an inline chunk.
	Key string `json:"key,omitempty"`
	// Size is the encoded size of the items (the staged object's size, or
	// what Items takes inline).
	Size int64 `json:"size,omitempty"`
	// PayloadBytes is the total packet size of the chunk's items, offloaded
	// or not, for progress reporting.
	PayloadBytes int64 `json:"bytes,omitempty"`
	// Digest is the SHA-256 of a staged chunk's object as the API wrote it
	// (ContentDigest); empty for an inline chunk and in references signed
	// by API replicas older than signature version 2.
	Digest string `json:"sha256,omitempty"`
	// MAC is the API's signature over the reference and its content
	// (ChunkSigner): the enqueue activity refuses a chunk without a
	// matching one.
	MAC string `json:"mac,omitempty"`
}

// Count returns the number of items in the chunk.
func (c *ChunkRef) Count() int { return c.Indexes.Count() }

// Summary describes the chunk for people, e.g. "items 1700–1799".
func (c *ChunkRef) Summary() string {
	first, last, ok := c.Indexes.Bounds()
	switch {
	case !ok:
		return "no items"
	case first == last:
		return fmt.Sprintf("item %d", first)
	case len(c.Indexes) == 1:
		return fmt.Sprintf("items %d–%d", first, last)
	default:
		return fmt.Sprintf("%d items in %d–%d", c.Count(), first, last)
	}
}
