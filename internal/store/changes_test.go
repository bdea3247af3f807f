package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// changesOf reads one page of q's changes after at and returns the run
// indexes it gave, the next offset and whether the round ended.
func changesOf(t *testing.T, s *Store, q ChangeQuery, at ChangeOffset, limit int) ([]int, ChangeOffset, bool) {
	t.Helper()
	var got []int
	next, done, err := s.RunChanges(context.Background(), q, at, limit, 1<<20, func(c *RunChange) bool {
		got = append(got, c.Index)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, next, done
}

// roundOf reads a whole round of changes after at, page by page.
func roundOf(t *testing.T, s *Store, q ChangeQuery, at ChangeOffset, limit int) ([]int, ChangeOffset) {
	t.Helper()
	var all []int
	for range 1000 {
		got, next, done := changesOf(t, s, q, at, limit)
		all = append(all, got...)
		// The offset travels as text between requests.
		parsed, err := ParseChangeOffset(next.String())
		if err != nil || parsed != next {
			t.Fatalf("offset %q reads back as %+v (%v), want %+v", next.String(), parsed, err, next)
		}
		at = next
		if done {
			slices.Sort(all)
			return all, at
		}
	}
	t.Fatal("the round did not end")
	return nil, at
}

func setStatus(t *testing.T, s *Store, batchID string, index int, st batch.RunStatus) {
	t.Helper()
	if _, err := s.pool.Exec(context.Background(), `UPDATE runs SET status = $3 WHERE batch_id = $1 AND batch_index = $2`,
		batchID, index, string(st)); err != nil {
		t.Fatal(err)
	}
}

func TestRunChangesSinceAnOffset(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 5)
	if _, err := s.InsertRuns(ctx, b.ID, items(0, 5)); err != nil {
		t.Fatal(err)
	}
	q := ChangeQuery{BatchID: b.ID}

	t.Run("the start gives every run, page by page", func(t *testing.T) {
		for _, limit := range []int{1, 2, 5, 100} {
			got, _ := roundOf(t, s, q, ChangeOffset{}, limit)
			if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
				t.Fatalf("limit %d: runs %v, want 0–4 once each", limit, got)
			}
		}
	})
	t.Run("nothing changed, nothing given", func(t *testing.T) {
		_, at := roundOf(t, s, q, ChangeOffset{}, 100)
		if got, _, done := changesOf(t, s, q, at, 100); len(got) != 0 || !done {
			t.Fatalf("runs %v (round ended %v) without a change", got, done)
		}
	})
	t.Run("an update gives that run only", func(t *testing.T) {
		_, at := roundOf(t, s, q, ChangeOffset{}, 100)
		setStatus(t, s, b.ID, 3, batch.RunExecuting)
		got, at := roundOf(t, s, q, at, 100)
		if !slices.Equal(got, []int{3}) {
			t.Fatalf("runs %v, want [3]", got)
		}
		if got, _ := roundOf(t, s, q, at, 100); len(got) != 0 {
			t.Fatalf("runs %v again", got)
		}
	})
	t.Run("an update that changes nothing gives nothing", func(t *testing.T) {
		_, at := roundOf(t, s, q, ChangeOffset{}, 100)
		if _, err := s.pool.Exec(ctx, `UPDATE runs SET status = status WHERE batch_id = $1`, b.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := roundOf(t, s, q, at, 100); len(got) != 0 {
			t.Fatalf("runs %v after a no-op update", got)
		}
	})
	t.Run("one run", func(t *testing.T) {
		two := 2
		one := ChangeQuery{BatchID: b.ID, Index: &two}
		got, at := roundOf(t, s, one, ChangeOffset{}, 100)
		if !slices.Equal(got, []int{2}) {
			t.Fatalf("runs %v, want [2]", got)
		}
		setStatus(t, s, b.ID, 1, batch.RunExecuting)
		if got, _ := roundOf(t, s, one, at, 100); len(got) != 0 {
			t.Fatalf("another run's change gave %v", got)
		}
	})
}

// A change committed after a later transaction's change was read is still
// given: offsets are snapshots, not counters.
func TestRunChangesCommittedOutOfOrder(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 3)
	if _, err := s.InsertRuns(ctx, b.ID, items(0, 3)); err != nil {
		t.Fatal(err)
	}
	q := ChangeQuery{BatchID: b.ID}
	_, at := roundOf(t, s, q, ChangeOffset{}, 100)

	slow, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = slow.Rollback(ctx) }()
	if _, err := slow.Exec(ctx, `UPDATE runs SET status = 'EXECUTING' WHERE batch_id = $1 AND batch_index = 0`, b.ID); err != nil {
		t.Fatal(err)
	}
	setStatus(t, s, b.ID, 1, batch.RunExecuting) // a later transaction, committed first
	got, at := roundOf(t, s, q, at, 100)
	if !slices.Equal(got, []int{1}) {
		t.Fatalf("runs %v, want [1] (run 0's change is not committed)", got)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := roundOf(t, s, q, at, 100); !slices.Equal(got, []int{0}) {
		t.Fatalf("runs %v after the earlier transaction committed, want [0]", got)
	}
}

func TestRunChangesWithTags(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 4)
	tag := "t" + batch.NewStreamID()
	in := items(0, 4)
	for i := range in {
		in[i].Options = []byte(fmt.Sprintf(`{"tags":["other","%s-%d"]}`, tag, i%2))
	}
	in[3].Options = nil // untagged
	if _, err := s.InsertRuns(ctx, b.ID, in); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Hour)
	q := ChangeQuery{EnvID: b.EnvironmentID, Tags: []string{tag + "-0"}, CreatedFrom: since}
	got, at := roundOf(t, s, q, ChangeOffset{}, 1)
	if !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("runs %v tagged %s-0, want [0 2]", got, tag)
	}
	setStatus(t, s, b.ID, 1, batch.RunExecuting) // the other tag
	setStatus(t, s, b.ID, 2, batch.RunExecuting)
	if got, _ := roundOf(t, s, q, at, 1); !slices.Equal(got, []int{2}) {
		t.Fatalf("runs %v changed, want [2]", got)
	}
	if got, _ := roundOf(t, s, ChangeQuery{EnvID: b.EnvironmentID, Tags: []string{tag + "-0", tag + "-1"}, CreatedFrom: since},
		ChangeOffset{}, 100); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("runs %v with either tag, want [0 1 2]", got)
	}
	if got, _ := roundOf(t, s, ChangeQuery{EnvID: b.EnvironmentID, Tags: []string{tag + "-0"}, CreatedFrom: time.Now().Add(time.Hour)},
		ChangeOffset{}, 100); len(got) != 0 {
		t.Fatalf("runs %v created before created_from", got)
	}
	if got, _ := roundOf(t, s, ChangeQuery{EnvID: b.EnvironmentID + 1000000, Tags: []string{tag + "-0"}, CreatedFrom: since},
		ChangeOffset{}, 100); len(got) != 0 {
		t.Fatalf("another environment sees runs %v", got)
	}
}

func TestParseChangeOffsetRefusesMalformed(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "0", "abc", "-2", "5:3:", "0:3:", "3:9:2", "3:9:4,4", "3:9:9", "3:9:", "3:9:_3:9:_1",
		"3:9:_3:9:_x_1", "3:9:_3:9:_1_-5", "3:9:_3:9:_1_1_notabatch", "-1_-1_1_1"} {
		if s == "3:9:" {
			continue // valid, below
		}
		if o, err := ParseChangeOffset(s); err == nil {
			t.Errorf("offset %q read as %+v", s, o)
		}
	}
	for _, s := range []string{"-1", "3:9:", "3:9:4,5", "-1_3:9:_7_2", "3:9:_4:10:5_7_2_batch_abcdefghijklmnopqrstuvwx"} {
		o, err := ParseChangeOffset(s)
		if err != nil {
			t.Errorf("offset %q: %v", s, err)
			continue
		}
		if o.String() != s {
			t.Errorf("offset %q writes back as %q", s, o.String())
		}
	}
}
