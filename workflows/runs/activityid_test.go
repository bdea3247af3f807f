package runs

import (
	"fmt"
	"testing"
)

func TestActivityIDs(t *testing.T) {
	t.Parallel()
	if got := SliceActivityID([]int{0, 1, 2, 5, 7, 8}); got != "slice-0-2,5,7-8" {
		t.Fatalf("SliceActivityID: %s", got)
	}
	for id, want := range map[string]string{
		"run-0": "[0] 0 false", "run-42": "[42] 0 false", "run-42+2": "[42] 2 false",
		"slice-0-2,5,7-8": "[0 1 2 5 7 8] 0 true", "slice-3": "[3] 0 true",
	} {
		idx, prior, slice, ok := ActivityRuns(id)
		if got := fmt.Sprint(idx, " ", prior, " ", slice); !ok || got != want {
			t.Errorf("ActivityRuns(%q) = %s, %v; want %s", id, got, ok, want)
		}
	}
	for _, id := range []string{"run-", "run--1", "run-x", "run-1+x", "dispatch", "Run-1", "slice-", "slice-3-1", "slice-a", "slice-0-999999999"} {
		if _, _, _, ok := ActivityRuns(id); ok {
			t.Errorf("ActivityRuns(%q) accepted", id)
		}
	}
}
