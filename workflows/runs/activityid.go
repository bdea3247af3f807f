package runs

import (
	"strconv"
	"strings"
)

// Activity ids of run activities: "run-<index>" for a run dispatched alone,
// "run-<index>+<prior>" for a run retried alone after a slice made prior
// attempts of it, and "slice-<ranges>" for a slice, its runs' indexes as
// ascending ranges ("slice-0-49", "slice-3,5,7-9"). DispatchStep reads
// them back to show started runs EXECUTING, ReconcileAttempts to count
// attempts.

// RunActivityID returns the activity id of a run dispatched alone.
func RunActivityID(index, prior int) string {
	if prior > 0 {
		return "run-" + strconv.Itoa(index) + "+" + strconv.Itoa(prior)
	}
	return "run-" + strconv.Itoa(index)
}

// SliceActivityID returns the activity id of a slice of runs (indexes
// ascending).
func SliceActivityID(indexes []int) string {
	var b strings.Builder
	b.WriteString("slice-")
	for k := 0; k < len(indexes); {
		j := k
		for j+1 < len(indexes) && indexes[j+1] == indexes[j]+1 {
			j++
		}
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(indexes[k]))
		if j > k {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(indexes[j]))
		}
		k = j + 1
	}
	return b.String()
}

// ActivityRuns parses a run activity's id: the indexes of its runs, the
// attempts made before it (prior) and whether it is a slice. ok is false
// for an id that is not a run activity's.
func ActivityRuns(id string) (indexes []int, prior int, slice, ok bool) {
	if s, found := strings.CutPrefix(id, "slice-"); found {
		for part := range strings.SplitSeq(s, ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			a, err := strconv.Atoi(lo)
			if err != nil || a < 0 {
				return nil, 0, false, false
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 100_000 {
					return nil, 0, false, false
				}
			}
			for i := a; i <= b; i++ {
				indexes = append(indexes, i)
			}
		}
		return indexes, 0, true, len(indexes) > 0
	}
	s, found := strings.CutPrefix(id, "run-")
	if !found {
		return nil, 0, false, false
	}
	idx, p, hasPrior := strings.Cut(s, "+")
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 {
		return nil, 0, false, false
	}
	if hasPrior {
		if prior, err = strconv.Atoi(p); err != nil || prior < 0 {
			return nil, 0, false, false
		}
	}
	return []int{n}, prior, false, true
}
