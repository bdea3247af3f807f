package store

import (
	"context"
	"slices"
	"testing"
)

// runs.list's filter[tag]: the runs that carry any of the tags, in a batch
// and over the environment, both ways.
func TestEachRunFiltersOnTags(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 4)
	in := items(0, 4)
	in[0].Options = []byte(`{"tags":["a","b"]}`)
	in[1].Options = []byte(`{"tags":"b"}`) // one tag, as a string
	in[2].Options = []byte(`{"tags":["c"]}`)
	in[3].Options = nil
	if _, err := s.InsertRuns(ctx, b.ID, in); err != nil {
		t.Fatal(err)
	}
	collect := func(each func(fn func(*Run) bool) (bool, error)) []int {
		t.Helper()
		var got []int
		if _, err := each(func(r *Run) bool { got = append(got, r.Index); return true }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	for _, tc := range []struct {
		tags []string
		want []int
	}{{[]string{"b"}, []int{0, 1}}, {[]string{"a", "c"}, []int{0, 2}}, {[]string{"z"}, nil}, {nil, []int{0, 1, 2, 3}}} {
		f := RunFilter{Tags: tc.tags}
		if got := collect(func(fn func(*Run) bool) (bool, error) { return s.EachRun(ctx, b.ID, f, -1, 100, 1<<20, fn) }); !slices.Equal(got, tc.want) {
			t.Errorf("EachRun tags %v: runs %v, want %v", tc.tags, got, tc.want)
		}
		if got := collect(func(fn func(*Run) bool) (bool, error) { return s.EachRunBefore(ctx, b.ID, f, 4, 100, 1<<20, fn) }); !slices.Equal(got, tc.want) {
			t.Errorf("EachRunBefore tags %v: runs %v, want %v", tc.tags, got, tc.want)
		}
		if got := collect(func(fn func(*Run) bool) (bool, error) {
			return s.EachEnvRun(ctx, b.EnvironmentID, f, "", 100, 1<<20, fn)
		}); !slices.Equal(got, tc.want) {
			t.Errorf("EachEnvRun tags %v: runs %v, want %v", tc.tags, got, tc.want)
		}
	}
}
