package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxSliceSize bounds a sliced task's K (STREAMBATCH_SLICED_TASKS).
const MaxSliceSize = 1000

// ParseSlicedTasks parses STREAMBATCH_SLICED_TASKS: comma-separated
// "task=K" or "env/task=K" entries, 2 ≤ K ≤ MaxSliceSize.
func ParseSlicedTasks(s string) (map[string]int, error) {
	out := map[string]int{}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		i := strings.LastIndexByte(entry, '=')
		name := ""
		if i > 0 {
			name = strings.TrimSpace(entry[:i])
		}
		if name == "" {
			return nil, fmt.Errorf("%q: want task=K or env/task=K", entry)
		}
		k, err := strconv.Atoi(strings.TrimSpace(entry[i+1:]))
		if err != nil || k < 2 || k > MaxSliceSize {
			return nil, fmt.Errorf("%q: K must be a whole number from 2 to %d", entry, MaxSliceSize)
		}
		out[name] = k
	}
	return out, nil
}

// FormatSlicedTasks renders sliced tasks as ParseSlicedTasks reads them.
func FormatSlicedTasks(m map[string]int) string {
	out := make([]string, 0, len(m))
	for name, k := range m {
		out = append(out, name+"="+strconv.Itoa(k))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}
