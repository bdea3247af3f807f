package api

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// Aborting an aborted batch answers 200 with the batch. One whose parent
// was not told yet (an abort of a batch without a workflow aborts its row,
// then its runs through BatchRuns, which tells the parent: a failure
// between the two left it so) is handed to BatchRuns again by the retry;
// one whose parent was told, or that has none, is not.
func TestAbortOfAnAbortedBatch(t *testing.T) {
	t.Parallel()
	parent, refused, told := "parent-workflow", "no such workflow", time.Unix(1_700_000_100, 0).UTC()
	cases := []struct {
		name     string
		parent   bool
		told     *time.Time
		refused  *string
		handedOn bool
	}{
		{"parent not told yet", true, nil, nil, true},
		{"parent told", true, &told, nil, false},
		{"parent refused the signal", true, nil, &refused, false},
		{"no parent", false, nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHandlerFixture()
			id := f.store.add(testEnv, 3, batch.StatusAborted)
			b := f.store.batches[id]
			if tc.parent {
				b.ParentRunID, b.ResumeParentOnCompletion = &parent, true
			}
			b.ParentNotifiedAt, b.ParentRefused = tc.told, tc.refused
			f.store.batches[id] = b
			a := f.do(http.MethodPost, "/api/v3/batches/"+id+"/abort", testKey, "", "")
			if a.status != http.StatusOK {
				t.Fatalf("answer %d %s, want 200", a.status, a.body)
			}
			if got := slices.Contains(f.runs.aborted, id); got != tc.handedOn {
				t.Fatalf("handed to BatchRuns: %v, want %v", got, tc.handedOn)
			}
		})
	}
}
