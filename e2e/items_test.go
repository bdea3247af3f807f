package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// item is one NDJSON line as a client sends it.
type item struct {
	Index   int            `json:"index"`
	Task    string         `json:"task"`
	Payload any            `json:"payload,omitempty"`
	Options map[string]any `json:"options,omitempty"`
}

// ndjson encodes items one per line.
func ndjson(items []item) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

// randomText returns n printable bytes, different for each seed.
func randomText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 42))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:-_"
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func sha(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// simpleItems returns n items with small string payloads.
func simpleItems(n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = item{Index: i, Task: "email", Payload: fmt.Sprintf(`{"n":%d}`, i)}
	}
	return out
}
