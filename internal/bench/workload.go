package bench

import (
	"fmt"
	"iter"
	"strings"

	"github.com/streambatch/streambatch/client"
)

// Scenario is one workload: Batches batches of Items items each, sent
// concurrently, with payloads of PayloadSize(i) bytes.
type Scenario struct {
	Name        string
	Description string
	Batches     int
	Items       int
	PayloadSize func(i int) int
	// KeyedPercent of the items (those whose index modulo 100 is below
	// it) carry an idempotency key of their own (one no other item has:
	// each makes a run, and costs the claim of its key).
	KeyedPercent int
}

// Keyed returns s with pct % of its items keyed (Keyed(0) is s), named
// after s ("S+keys10%").
func (s Scenario) Keyed(pct int) Scenario {
	if pct <= 0 {
		return s
	}
	s.Name = fmt.Sprintf("%s+keys%d%%", s.Name, pct)
	s.Description = fmt.Sprintf("%s, %d %% with an idempotency key", s.Description, pct)
	s.KeyedPercent = pct
	return s
}

// Scenarios are the benchmark's workloads.
var Scenarios = []Scenario{
	{Name: "L", Description: "1,000 items × 1 MiB", Batches: 1, Items: 1000, PayloadSize: func(int) int { return 1 << 20 }},
	{Name: "M", Description: "1,000 items: 900 × 2 KiB + 100 × 1 MiB", Batches: 1, Items: 1000, PayloadSize: func(i int) int {
		if i%10 == 9 {
			return 1 << 20
		}
		return 2 << 10
	}},
	{Name: "S", Description: "100,000 items × 256 B", Batches: 1, Items: 100_000, PayloadSize: func(int) int { return 256 }},
	{Name: "C", Description: "20 batches × 1,000 items × 4 KiB, concurrently", Batches: 20, Items: 1000, PayloadSize: func(int) int { return 4 << 10 }},
	// C1 is C's items in one batch: the single-batch rate C's aggregate is
	// held against.
	{Name: "C1", Description: "1 batch × 20,000 items × 4 KiB (C's items in one batch)", Batches: 1, Items: 20_000, PayloadSize: func(int) int { return 4 << 10 }},
}

// Extra scenarios run only when named.
var Extra = []Scenario{
	// X: the largest items a line may carry (3 MiB, minus the line's JSON
	// around the payload), to check that no Phase 2 request nears a timeout.
	{Name: "X", Description: "1,000 items × ~3 MiB (the item limit)", Batches: 1, Items: 1000, PayloadSize: func(int) int { return 3<<20 - 256 }},
}

// ScenarioByName finds a scenario.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range append(Scenarios, Extra...) {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Scenario{}, false
}

// PayloadBytes is the total payload size of one batch.
func (s Scenario) PayloadBytes() int64 {
	var n int64
	for i := range s.Items {
		n += int64(s.PayloadSize(i))
	}
	return n
}

// payload returns item i's payload text: unique per batch and index, the
// rest filler (generation must not be what the benchmark measures).
func payload(batch, i, size int) string {
	head := fmt.Sprintf("b%d-i%d-", batch, i)
	if size <= len(head) {
		return head[:size]
	}
	return head + strings.Repeat("x", size-len(head))
}

// plainOptions are the options of an item without a key.
var plainOptions = []byte(`{"payloadType":"text/plain"}`)

// items yields batch b's items (batch id batchID), generated lazily.
func (s Scenario) items(b int, batchID string) iter.Seq2[client.Item, error] {
	return func(yield func(client.Item, error) bool) {
		for i := range s.Items {
			opts := plainOptions
			if i%100 < s.KeyedPercent {
				// Unique in the environment across rounds: the batch id is.
				opts = fmt.Appendf(nil, `{"payloadType":"text/plain","idempotencyKey":"%s-%d"}`, batchID, i)
			}
			it := client.Item{Index: i, Task: "bench", Payload: client.StringPayload(payload(b, i, s.PayloadSize(i))),
				Options: opts}
			if !yield(it, nil) {
				return
			}
		}
	}
}
