package batch

import (
	"fmt"
	"slices"
	"strings"
)

// Range is a half-open interval [Start, End) of item indexes. It encodes to
// JSON as a two-element array.
type Range [2]int

// Ranges is a sorted list of disjoint, non-adjacent ranges: the compact form
// in which chunk references carry their indexes (a sequential chunk of any
// size is a single range).
type Ranges []Range

// RangesOf returns the canonical ranges covering the given indexes, which
// may be unsorted and contain duplicates. The slice is sorted in place.
func RangesOf(indexes []int) Ranges {
	if len(indexes) == 0 {
		return nil
	}
	slices.Sort(indexes)
	var out Ranges
	start, end := indexes[0], indexes[0]+1
	for _, i := range indexes[1:] {
		switch {
		case i < end: // duplicate
		case i == end:
			end++
		default:
			out = append(out, Range{start, end})
			start, end = i, i+1
		}
	}
	return append(out, Range{start, end})
}

// Count returns the number of indexes covered.
func (rs Ranges) Count() int {
	n := 0
	for _, r := range rs {
		n += r[1] - r[0]
	}
	return n
}

// Contains reports whether index i is covered.
func (rs Ranges) Contains(i int) bool {
	_, found := slices.BinarySearchFunc(rs, i, func(r Range, i int) int {
		switch {
		case r[1] <= i:
			return -1
		case r[0] > i:
			return 1
		}
		return 0
	})
	return found
}

// Bounds returns the first and last index covered; ok is false when empty.
func (rs Ranges) Bounds() (first, last int, ok bool) {
	if len(rs) == 0 {
		return 0, 0, false
	}
	return rs[0][0], rs[len(rs)-1][1] - 1, true
}

// Valid reports whether the ranges are canonical (sorted, disjoint,
// non-empty, non-adjacent) and within [0, n).
func (rs Ranges) Valid(n int) bool {
	prevEnd := -1
	for _, r := range rs {
		if r[0] < 0 || r[1] > n || r[0] >= r[1] || r[0] <= prevEnd {
			return false
		}
		prevEnd = r[1]
	}
	return true
}

// String renders the ranges for people, e.g. "0–99, 200–249"; with inclusive
// bounds.
func (rs Ranges) String() string {
	var b strings.Builder
	for k, r := range rs {
		if k > 0 {
			b.WriteString(", ")
		}
		if r[1]-r[0] == 1 {
			fmt.Fprintf(&b, "%d", r[0])
		} else {
			fmt.Fprintf(&b, "%d–%d", r[0], r[1]-1)
		}
	}
	return b.String()
}
