package batch

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
)

// IndexSet is a fixed-size bitmap of item indexes [0, Cap()). The workflow
// keeps the accepted indexes of a batch in one; it is small (1,000,000
// indexes take 125 KB in memory and, compressed, a few hundred bytes for a
// sequential stream) so it can be carried across continue-as-new and
// returned by a query.
//
// The zero value is an empty set of capacity 0.
type IndexSet struct {
	n     int
	count int
	words []uint64
}

// NewIndexSet returns an empty set for indexes [0, n).
func NewIndexSet(n int) *IndexSet {
	if n < 0 {
		n = 0
	}
	return &IndexSet{n: n, words: make([]uint64, (n+63)/64)}
}

// Cap returns n, the number of indexes the set can hold.
func (s *IndexSet) Cap() int { return s.n }

// Len returns the number of indexes in the set.
func (s *IndexSet) Len() int { return s.count }

// Full reports whether every index in [0, Cap()) is in the set.
func (s *IndexSet) Full() bool { return s.count == s.n }

// Has reports whether i is in the set; out-of-range indexes are not.
func (s *IndexSet) Has(i int) bool {
	if i < 0 || i >= s.n {
		return false
	}
	return s.words[i>>6]&(1<<(uint(i)&63)) != 0
}

// Add inserts i and reports whether it was newly added. Out-of-range
// indexes are ignored (false).
func (s *IndexSet) Add(i int) bool {
	if i < 0 || i >= s.n {
		return false
	}
	w, m := i>>6, uint64(1)<<(uint(i)&63)
	if s.words[w]&m != 0 {
		return false
	}
	s.words[w] |= m
	s.count++
	return true
}

// Remove deletes i and reports whether it was present.
func (s *IndexSet) Remove(i int) bool {
	if !s.Has(i) {
		return false
	}
	s.words[i>>6] &^= 1 << (uint(i) & 63)
	s.count--
	return true
}

// AddRanges inserts every index of rs and returns the ranges that were new.
func (s *IndexSet) AddRanges(rs Ranges) Ranges {
	var added Ranges
	for _, r := range rs {
		for i := max(r[0], 0); i < r[1] && i < s.n; i++ {
			if !s.Add(i) {
				continue
			}
			if k := len(added) - 1; k >= 0 && added[k][1] == i {
				added[k][1]++
			} else {
				added = append(added, Range{i, i + 1})
			}
		}
	}
	return added
}

// RemoveRanges deletes every index of rs.
func (s *IndexSet) RemoveRanges(rs Ranges) {
	for _, r := range rs {
		for i := r[0]; i < r[1]; i++ {
			s.Remove(i)
		}
	}
}

// Missing returns up to limit ranges of indexes in [0, Cap()) that are not
// in the set (limit <= 0 means all).
func (s *IndexSet) Missing(limit int) Ranges {
	var out Ranges
	for i := 0; i < s.n; {
		if s.Has(i) {
			// Skip full words quickly.
			if i&63 == 0 && s.words[i>>6] == ^uint64(0) {
				i += 64
				continue
			}
			i++
			continue
		}
		start := i
		for i < s.n && !s.Has(i) {
			i++
		}
		out = append(out, Range{start, i})
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// Clone returns an independent copy.
func (s *IndexSet) Clone() *IndexSet {
	return &IndexSet{n: s.n, count: s.count, words: append([]uint64(nil), s.words...)}
}

type indexSetJSON struct {
	N    int    `json:"n"`
	Bits string `json:"bits"` // base64 of the DEFLATE-compressed little-endian words
}

// MarshalJSON encodes the set compactly: its capacity and its words,
// DEFLATE-compressed and base64-encoded.
func (s *IndexSet) MarshalJSON() ([]byte, error) {
	raw := make([]byte, 8*len(s.words))
	for k, w := range s.words {
		binary.LittleEndian.PutUint64(raw[8*k:], w)
	}
	var buf bytes.Buffer
	zw, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return json.Marshal(indexSetJSON{N: s.n, Bits: base64.StdEncoding.EncodeToString(buf.Bytes())})
}

// UnmarshalJSON decodes what MarshalJSON produced.
func (s *IndexSet) UnmarshalJSON(data []byte) error {
	var v indexSetJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if v.N < 0 {
		return fmt.Errorf("index set: negative capacity %d", v.N)
	}
	comp, err := base64.StdEncoding.DecodeString(v.Bits)
	if err != nil {
		return fmt.Errorf("index set: %w", err)
	}
	want := 8 * ((v.N + 63) / 64)
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(comp)), int64(want)+1))
	if err != nil {
		return fmt.Errorf("index set: %w", err)
	}
	if len(raw) != want {
		return fmt.Errorf("index set: %d bytes of bits for capacity %d, want %d", len(raw), v.N, want)
	}
	out := IndexSet{n: v.N, words: make([]uint64, want/8)}
	for k := range out.words {
		out.words[k] = binary.LittleEndian.Uint64(raw[8*k:])
		out.count += bits.OnesCount64(out.words[k])
	}
	if r := v.N & 63; r != 0 && len(out.words) > 0 && out.words[len(out.words)-1]>>uint(r) != 0 {
		return fmt.Errorf("index set: bits set beyond capacity %d", v.N)
	}
	*s = out
	return nil
}
