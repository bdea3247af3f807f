package batch

import (
	"errors"
	"testing"
)

// Store references stay inside the environment's own packets and out of
// the batches' folders.
func TestStoreRefKey(t *testing.T) {
	t.Parallel()
	if k, err := StoreRefKey("dev", "trigger/packet_1/payload.json"); err != nil || k != "packets/dev/trigger/packet_1/payload.json" {
		t.Fatalf("%q %v", k, err)
	}
	for _, p := range []string{"", "/abs", "a//b", "a/../b", "./a", "a\\b", "a/%2e%2e/b", "a/%2E%2e/x", "%2e",
		"batch_abcdefghijklmnopqrstuvwx/item_0/payload.json", "batch_x"} {
		if _, err := StoreRefKey("dev", p); !errors.Is(err, ErrInvalidStorePath) {
			t.Errorf("%q accepted", p)
		}
	}
}
