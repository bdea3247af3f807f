package store

import (
	"context"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// A pre-failed item starts FAILED whatever its options say (a delay, an
// attempt limit the dispatcher refuses, none); only an item without an
// error code is QUEUED or DELAYED.
func TestInitialStateOfPreFailedItems(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := created.Add(time.Second)
	for _, tc := range []struct {
		name, options string
		ok            batch.RunStatus // the state without the error code
	}{
		{"no options", "", batch.RunQueued},
		{"tags", `{"tags":["x"]}`, batch.RunQueued},
		{"delay", `{"delay":"1h"}`, batch.RunDelayed},
		{"delay date", `{"delay":"2027-01-01T00:00:00Z"}`, batch.RunDelayed},
		{"delay passed", `{"delay":"2025-01-01T00:00:00Z"}`, batch.RunQueued},
		{"refused with a delay", `{"delay":"1h","maxAttempts":500}`, batch.RunQueued},
		{"unreadable with a delay", `{"delay":`, batch.RunQueued},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := batch.Item{Index: 1, Task: "t", PayloadType: batch.PayloadTypeJSON}
			if tc.options != "" {
				it.Options = []byte(tc.options)
			}
			if st, _ := initialState(&it, created, now); st != tc.ok {
				t.Fatalf("without error code: %s, want %s", st, tc.ok)
			}
			it.ErrorCode, it.ErrorMessage = batch.ErrorPayloadTooLarge, "too large"
			if st, at := initialState(&it, created, now); st != batch.RunFailed || at != nil {
				t.Fatalf("pre-failed: %s (delay until %v), want FAILED", st, at)
			}
		})
	}
}

// Pre-failed items are inserted FAILED, never QUEUED, by both insert
// paths (COPY, and the insert that skips duplicates), beside items with
// the same options that are not; no dispatch step claims them.
func TestPreFailedItemsAreInsertedFailed(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := newBatch(t, s, 8)
	its := items(0, 8)
	for k := range its {
		its[k].Options = []byte(`{"delay":"1s","tags":["x"]}`)
		if k%2 == 1 {
			its[k].ErrorCode, its[k].ErrorMessage = batch.ErrorPayloadTooLarge, "too large"
		}
	}
	if n, err := s.InsertRuns(ctx, b.ID, its[:4]); err != nil || n != 4 { // COPY
		t.Fatal(n, err)
	}
	if n, err := s.InsertRuns(ctx, b.ID, its[2:]); err != nil || n != 4 { // index 2 and 3 again
		t.Fatal(n, err)
	}
	runs, err := s.ListRuns(ctx, b.ID, -1, 100)
	if err != nil || len(runs) != 8 {
		t.Fatalf("%d runs (%v)", len(runs), err)
	}
	for _, r := range runs {
		want := batch.RunDelayed
		if r.Index%2 == 1 {
			want = batch.RunFailed
		}
		if r.Status != want {
			t.Errorf("run %d: %s, want %s", r.Index, r.Status, want)
		}
	}
	if _, err := s.SealBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	res, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "r:", Token: "r:1", Claim: 100, MaxBytes: 1 << 20, Now: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got := indexesOf(res.Runs); got != "[0 2 4 6]" {
		t.Fatalf("claimed %s, want the runs that are not pre-failed", got)
	}
}

// A step's claim token names runs of its own batch only: a token that a
// step of another batch also holds (as tests share them) never makes a
// claim take a run that is not open, such as a pre-failed one.
func TestClaimWithAnotherBatchsTokenTakesOnlyOpenRuns(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	other := sealed(t, s, 4, items(0, 4))
	its := items(0, 6)
	its[3].ErrorCode, its[3].ErrorMessage = batch.ErrorPayloadTooLarge, "too large"
	b := sealed(t, s, 6, its)
	owner := "shared-" + batch.NewStreamID() + ":"
	if r, err := s.DispatchStep(ctx, Step{BatchID: other.ID, Owner: owner, Token: owner + "1", Claim: 4, MaxBytes: 1 << 20, Now: time.Now()}); err != nil || indexesOf(r.Runs) != "[0 1 2 3]" {
		t.Fatalf("other batch claimed %s (%v)", indexesOf(r.Runs), err)
	}
	r, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: owner, Token: owner + "1", Claim: 4, MaxBytes: 1 << 20, Now: time.Now()})
	if err != nil || indexesOf(r.Runs) != "[0 1 2 4]" {
		t.Fatalf("claimed %s (%v), want the open runs [0 1 2 4]", indexesOf(r.Runs), err)
	}
	if run, _ := s.GetRun(ctx, b.ID, 3); run.Status != batch.RunFailed {
		t.Fatalf("pre-failed run is %s", run.Status)
	}
}
