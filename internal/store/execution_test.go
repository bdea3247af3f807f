package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

func sealed(t *testing.T, s *Store, n int, its []batch.Item) Batch {
	t.Helper()
	ctx := context.Background()
	b := newBatch(t, s, n)
	if _, err := s.InsertRuns(ctx, b.ID, its); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SealBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	return b
}

func strp(s string) *string { return &s }

// A dispatch claims open runs in index order within its byte budget; a
// retried step gets back exactly what it claimed; another workflow run's
// claims are stale and taken again; results, starts and completion follow.
func TestDispatchClaimRecordComplete(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	its := items(0, 10)
	its[3].ErrorCode, its[3].ErrorMessage = batch.ErrorPayloadTooLarge, "too large"
	b := sealed(t, s, 10, its)
	now := time.Now()

	step := Step{BatchID: b.ID, Owner: "runA:", Token: "runA:1", Claim: 4, MaxBytes: 1 << 20, Now: now}
	r1, err := s.DispatchStep(ctx, step)
	if err != nil {
		t.Fatal(err)
	}
	if got := indexesOf(r1.Runs); got != "[0 1 2 4]" || !r1.Open || r1.Batch.Status != batch.StatusProcessing {
		t.Fatalf("claimed %s open=%v status=%s", got, r1.Open, r1.Batch.Status)
	}
	// The same step again (a retried local activity): the same runs.
	r1b, err := s.DispatchStep(ctx, step)
	if err != nil || indexesOf(r1b.Runs) != "[0 1 2 4]" {
		t.Fatalf("retried step claimed %s (%v)", indexesOf(r1b.Runs), err)
	}
	// A byte budget smaller than two runs still claims one.
	r2, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runA:", Token: "runA:2", Claim: 4, MaxBytes: 1, Now: now})
	if err != nil || indexesOf(r2.Runs) != "[5]" {
		t.Fatalf("budgeted step claimed %s (%v)", indexesOf(r2.Runs), err)
	}
	// Start, then finish, the first claims.
	at := now.Add(time.Second)
	_, err = s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runA:", Started: []RunStart{{Index: 0, Attempt: 2, StartedAt: at}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.GetRun(ctx, b.ID, 0); r.Status != batch.RunExecuting || r.Attempts != 2 || r.StartedAt == nil {
		t.Fatalf("run 0 after start: %+v", r)
	}
	results := []RunResult{
		{Index: 0, Status: batch.RunCompleted, Output: strp(`{"ok":true}`), OutputType: strp(batch.OutputTypeJSON), Attempts: 2, CompletedAt: at},
		{Index: 1, Status: batch.RunFailed, ErrorCode: strp("Boom"), ErrorMessage: strp("boom"), Attempts: 3, CompletedAt: at},
	}
	if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runA:", Results: results}); err != nil {
		t.Fatal(err)
	}
	// Workflow run B takes over: runA's unfinished claims (2, 4, 5) are
	// stale and claimed again, with the rest.
	r3, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runB:", Token: "runB:1", Claim: 100, MaxBytes: 1 << 20, Now: now})
	if err != nil || indexesOf(r3.Runs) != "[2 4 5 6 7 8 9]" {
		t.Fatalf("run B claimed %s (%v)", indexesOf(r3.Runs), err)
	}
	if _, done, _ := s.CompleteBatch(ctx, b.ID); done {
		t.Fatal("completed with open runs")
	}
	var rest []RunResult
	for _, r := range r3.Runs {
		rest = append(rest, RunResult{Index: r.Index, Status: batch.RunCompleted, Attempts: 1, CompletedAt: at})
	}
	fin, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runB:", Results: rest})
	if err != nil || fin.Open {
		t.Fatalf("open=%v after the last results (%v)", fin.Open, err)
	}
	got, done, err := s.CompleteBatch(ctx, b.ID)
	if err != nil || !done || got.Status != batch.StatusCompleted || got.CompletedAt == nil {
		t.Fatalf("complete: %+v %v %v", got, done, err)
	}
	counts, _ := s.RunCounts(ctx, b.ID)
	if counts[batch.RunCompleted] != 8 || counts[batch.RunFailed] != 2 {
		t.Fatalf("counts %v", counts)
	}

	// Replay: only the run that failed while executing runs again.
	n, err := s.ReplayBatch(ctx, b.ID)
	if err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	rb, _ := s.GetBatchAnyEnv(ctx, b.ID)
	if rb.Status != batch.StatusProcessing || rb.Replays != 1 {
		t.Fatalf("after replay: %+v", rb)
	}
	r4, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runC:", Token: "runC:1", Claim: 100, MaxBytes: 1 << 20, Now: now})
	if err != nil || indexesOf(r4.Runs) != "[1]" || r4.Runs[0].Attempts != 3 {
		t.Fatalf("after replay claimed %+v (%v)", r4.Runs, err)
	}
	if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runC:", Results: []RunResult{{Index: 1, Status: batch.RunCompleted, Attempts: 1, CompletedAt: at}}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.GetRun(ctx, b.ID, 1); r.Status != batch.RunCompleted || r.Attempts != 4 {
		t.Fatalf("replayed run: %+v", r)
	}
	if _, err := s.ReplayBatch(ctx, b.ID); !errors.Is(err, ErrNotCompleted) {
		t.Fatalf("replay of a processing batch: %v", err)
	}
}

// Delayed runs are DELAYED until their time, then claimable; a cancel
// takes a run no dispatcher holds; an abort of a processing batch cancels
// the open runs and keeps the finished ones.
func TestDelayCancelAbort(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	its := items(0, 4)
	its[1].Options = []byte(`{"delay":"1h"}`)
	its[2].Options = []byte(`{"delay":"1s"}`)
	b := sealed(t, s, 4, its)
	if r, _ := s.GetRun(ctx, b.ID, 1); r.Status != batch.RunDelayed || r.DelayUntil == nil {
		t.Fatalf("run 1: %+v", r)
	}
	r0, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Token: "w:1", Claim: 10, MaxBytes: 1 << 20, Now: time.Now()})
	if err != nil || indexesOf(r0.Runs) != "[0 3]" || r0.NextDelay == nil {
		t.Fatalf("claimed %s next %v (%v)", indexesOf(r0.Runs), r0.NextDelay, err)
	}
	// From a cursor past it, the promoted run is not claimed, but reported.
	r1, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Token: "w:2", Claim: 10, MaxBytes: 1 << 20, From: 4, Now: time.Now().Add(2 * time.Second)})
	if err != nil || len(r1.Runs) != 0 || r1.Promoted == nil || *r1.Promoted != 2 {
		t.Fatalf("after the short delay, from 4: claimed %s, promoted %v (%v)", indexesOf(r1.Runs), r1.Promoted, err)
	}
	r1, err = s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Token: "w:3", Claim: 10, MaxBytes: 1 << 20, From: 2, Now: time.Now().Add(2 * time.Second)})
	if err != nil || indexesOf(r1.Runs) != "[2]" || r1.Promoted != nil {
		t.Fatalf("from the promoted run: claimed %s (%v)", indexesOf(r1.Runs), err)
	}
	run, canceled, err := s.CancelRun(ctx, b.ID, 1, "not needed")
	if err != nil || !canceled || run.Status != batch.RunCanceled {
		t.Fatalf("cancel delayed run: %+v %v %v", run, canceled, err)
	}
	if _, canceled, _ := s.CancelRun(ctx, b.ID, 0, "x"); canceled {
		t.Fatal("cancelled a dispatched run in the database")
	}
	at := time.Now()
	if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Results: []RunResult{{Index: 0, Status: batch.RunCompleted, Attempts: 1, CompletedAt: at}}}); err != nil {
		t.Fatal(err)
	}
	ab, err := s.AbortBatch(ctx, b.ID, "stop", true)
	if err != nil || ab.Status != batch.StatusAborted {
		t.Fatalf("abort: %+v %v", ab, err)
	}
	counts, _ := s.RunCounts(ctx, b.ID)
	if counts[batch.RunCompleted] != 1 || counts[batch.RunCanceled] != 3 {
		t.Fatalf("counts after abort %v", counts)
	}
}

func indexesOf(rs []ClaimedRun) string {
	out := make([]int, len(rs))
	for k, r := range rs {
		out[k] = r.Index
	}
	return fmtInts(out)
}

func fmtInts(v []int) string { return fmt.Sprint(v) }

// A step retried with a larger claim (its workflow task failed after the
// claim committed, and the retry saw more finished runs) gets back what it
// claimed and fresh runs up to the new limit, so "fewer than asked" still
// means "caught up".
func TestRetriedStepClaimsMore(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := sealed(t, s, 10, items(0, 10))
	step := Step{BatchID: b.ID, Owner: "w:", Token: "w:7", Claim: 3, MaxBytes: 1 << 20, Now: time.Now()}
	if r, err := s.DispatchStep(ctx, step); err != nil || indexesOf(r.Runs) != "[0 1 2]" {
		t.Fatalf("first attempt claimed %s (%v)", indexesOf(r.Runs), err)
	}
	step.Claim = 5
	r, err := s.DispatchStep(ctx, step)
	if err != nil || indexesOf(r.Runs) != "[0 1 2 3 4]" || !r.Ready {
		t.Fatalf("retried with a larger claim: %s ready=%v (%v)", indexesOf(r.Runs), r.Ready, err)
	}
}

// ReplayRun requeues the one run of a COMPLETED batch that failed while
// executing, keeping its id, and the batch processes again; a batch not
// completed, a completed run and a run that failed at creation are refused
// and change nothing.
func TestReplayRun(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	its := items(0, 3)
	its[2].ErrorCode, its[2].ErrorMessage = batch.ErrorPayloadTooLarge, "too large"
	b := sealed(t, s, 3, its)
	now := time.Now()
	if r, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Token: "w:1", Claim: 10, MaxBytes: 1 << 20, Now: now}); err != nil || indexesOf(r.Runs) != "[0 1]" {
		t.Fatalf("claimed %s (%v)", indexesOf(r.Runs), err)
	}
	results := []RunResult{
		{Index: 0, Status: batch.RunFailed, ErrorCode: strp("Boom"), ErrorMessage: strp("boom"), Attempts: 1, CompletedAt: now},
		{Index: 1, Status: batch.RunCompleted, Output: strp(`1`), OutputType: strp(batch.OutputTypeJSON), Attempts: 1, CompletedAt: now},
	}
	if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Results: results}); err != nil {
		t.Fatal(err)
	}
	t.Run("a processing batch", func(t *testing.T) {
		if err := s.ReplayRun(ctx, b.ID, 0); !errors.Is(err, ErrNotCompleted) {
			t.Fatalf("replay: %v, want ErrNotCompleted", err)
		}
	})
	if _, done, err := s.CompleteBatch(ctx, b.ID); err != nil || !done {
		t.Fatalf("complete: %v %v", done, err)
	}
	for _, tc := range []struct {
		name  string
		index int
	}{{"a completed run", 1}, {"a run that failed at creation", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.ReplayRun(ctx, b.ID, tc.index); !errors.Is(err, ErrNotReplayable) {
				t.Fatalf("replay: %v, want ErrNotReplayable", err)
			}
			if got, _ := s.GetBatchAnyEnv(ctx, b.ID); got.Status != batch.StatusCompleted || got.Replays != 0 {
				t.Fatalf("batch after a refused replay: %+v", got)
			}
		})
	}
	t.Run("the failed run", func(t *testing.T) {
		if err := s.ReplayRun(ctx, b.ID, 0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetBatchAnyEnv(ctx, b.ID); got.Status != batch.StatusProcessing || got.Replays != 1 {
			t.Fatalf("batch after the replay: %+v", got)
		}
		if r, _ := s.GetRun(ctx, b.ID, 0); r.Status != batch.RunQueued || r.ID != batch.RunID(b.ID, 0) || r.ErrorCode != nil || r.CompletedAt != nil {
			t.Fatalf("replayed run: %+v", r)
		}
		r, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "v:", Token: "v:1", Claim: 10, MaxBytes: 1 << 20, Now: now})
		if err != nil || indexesOf(r.Runs) != "[0]" {
			t.Fatalf("after the replay claimed %s (%v)", indexesOf(r.Runs), err)
		}
	})
}

// RescheduleRun moves a DELAYED run's time and refuses a run that is not
// DELAYED, leaving it unchanged.
func TestRescheduleRun(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	its := items(0, 2)
	its[0].Options = []byte(`{"delay":"1h"}`)
	b := sealed(t, s, 2, its)
	t.Run("a DELAYED run", func(t *testing.T) {
		until := time.Now().Add(3 * time.Hour).Truncate(time.Microsecond)
		r, err := s.RescheduleRun(ctx, b.ID, 0, until)
		if err != nil || r.Status != batch.RunDelayed || r.DelayUntil == nil || !r.DelayUntil.Equal(until) {
			t.Fatalf("rescheduled: %+v (%v)", r, err)
		}
		next, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "w:", Token: "w:1", Claim: 10, MaxBytes: 1 << 20, Now: time.Now()})
		if err != nil || next.NextDelay == nil || !next.NextDelay.Equal(until) {
			t.Fatalf("next delay %v, want %v (%v)", next.NextDelay, until, err)
		}
	})
	t.Run("a QUEUED run", func(t *testing.T) {
		before, _ := s.GetRun(ctx, b.ID, 1)
		if _, err := s.RescheduleRun(ctx, b.ID, 1, time.Now().Add(time.Hour)); !errors.Is(err, ErrNotDelayed) {
			t.Fatalf("reschedule: %v, want ErrNotDelayed", err)
		}
		if after, _ := s.GetRun(ctx, b.ID, 1); after.DelayUntil != nil || after.Status != before.Status {
			t.Fatalf("run after a refused reschedule: %+v", after)
		}
	})
}

// AddRunTags adds the tags a run does not have after the ones it has, and
// refuses (changing nothing) tags that would make more than ten.
func TestAddRunTags(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	its := items(0, 3) // options {"tags":["x"]}
	its[1].Options = []byte(`{"tags":"solo","ttl":"1h"}`)
	its[2].Options = nil
	b := sealed(t, s, 3, its)
	tagsOf := func(t *testing.T, index int) string {
		t.Helper()
		r, err := s.GetRun(ctx, b.ID, index)
		if err != nil {
			t.Fatal(err)
		}
		o := batch.StoredItemOptions(r.Options)
		if o.Refused != "" {
			t.Fatalf("options %s refused: %s", r.Options, o.Refused)
		}
		return fmt.Sprint(o.Tags)
	}
	cases := []struct {
		name  string
		index int
		add   []string
		added int
		want  string
	}{
		{"an array of tags", 0, []string{"y", "x", "z", "y"}, 2, "[x y z]"},
		{"one tag as a string", 1, []string{"two"}, 1, "[solo two]"},
		{"no options", 2, []string{"a"}, 1, "[a]"},
		{"tags it has", 0, []string{"z", "x"}, 0, "[x y z]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.AddRunTags(ctx, b.ID, tc.index, tc.add)
			if err != nil || n != tc.added {
				t.Fatalf("added %d (%v), want %d", n, err, tc.added)
			}
			if got := tagsOf(t, tc.index); got != tc.want {
				t.Fatalf("tags %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("more than ten", func(t *testing.T) {
		many := []string{"1", "2", "3", "4", "5", "6", "7", "8"} // 3 + 8 = 11
		if _, err := s.AddRunTags(ctx, b.ID, 0, many); !errors.Is(err, ErrTooManyTags) {
			t.Fatalf("add: %v, want ErrTooManyTags", err)
		}
		if got := tagsOf(t, 0); got != "[x y z]" {
			t.Fatalf("tags after a refused add %s", got)
		}
	})
	t.Run("the other options stay", func(t *testing.T) {
		r, _ := s.GetRun(ctx, b.ID, 1)
		if o := batch.StoredItemOptions(r.Options); o.TTL != time.Hour {
			t.Fatalf("options after the add: %s", r.Options)
		}
	})
	t.Run("unknown run", func(t *testing.T) {
		if _, err := s.AddRunTags(ctx, b.ID, 7, []string{"a"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("add: %v, want ErrNotFound", err)
		}
	})
}

// UpdateRunMetadata writes what the change makes of the run's metadata and
// status, keeps the other options, and changes nothing when the change
// fails.
func TestUpdateRunMetadata(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	its := items(0, 2)
	its[0].Options = []byte(`{"metadata":{"a":1},"ttl":"1h"}`)
	its[1].Options = nil
	b := sealed(t, s, 2, its)
	t.Run("a run with metadata", func(t *testing.T) {
		out, err := s.UpdateRunMetadata(ctx, b.ID, 0, func(old json.RawMessage, st batch.RunStatus) (json.RawMessage, error) {
			if string(old) != `{"a": 1}` || st != batch.RunQueued {
				t.Errorf("change got %s %s", old, st)
			}
			return json.RawMessage(`{"a":2}`), nil
		})
		if err != nil || string(out) != `{"a":2}` {
			t.Fatalf("update: %s (%v)", out, err)
		}
		r, _ := s.GetRun(ctx, b.ID, 0)
		if o := batch.StoredItemOptions(r.Options); string(o.Metadata) != `{"a":2}` || o.TTL != time.Hour {
			t.Fatalf("options after the update: %s", r.Options)
		}
	})
	t.Run("a run without options", func(t *testing.T) {
		if _, err := s.UpdateRunMetadata(ctx, b.ID, 1, func(old json.RawMessage, _ batch.RunStatus) (json.RawMessage, error) {
			if old != nil {
				t.Errorf("change got %s, want nil", old)
			}
			return json.RawMessage(`{"b":true}`), nil
		}); err != nil {
			t.Fatal(err)
		}
		r, _ := s.GetRun(ctx, b.ID, 1)
		if o := batch.StoredItemOptions(r.Options); string(o.Metadata) != `{"b":true}` {
			t.Fatalf("options after the update: %s", r.Options)
		}
	})
	t.Run("a failed change", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := s.UpdateRunMetadata(ctx, b.ID, 0, func(json.RawMessage, batch.RunStatus) (json.RawMessage, error) {
			return nil, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("update: %v, want boom", err)
		}
		r, _ := s.GetRun(ctx, b.ID, 0)
		if o := batch.StoredItemOptions(r.Options); string(o.Metadata) != `{"a":2}` {
			t.Fatalf("options after a failed change: %s", r.Options)
		}
	})
	t.Run("unknown run", func(t *testing.T) {
		if _, err := s.UpdateRunMetadata(ctx, b.ID, 5, func(json.RawMessage, batch.RunStatus) (json.RawMessage, error) {
			return nil, nil
		}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update: %v, want ErrNotFound", err)
		}
	})
}

// Reconciling a run of a slice (attempt 0) sets its start time and keeps
// the attempts its outcome recorded; a run dispatched alone gets its exact
// count.
func TestReconcileSliceStartKeepsAttempts(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	b := sealed(t, s, 2, items(0, 2))
	now := time.Now()
	if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runA:", Token: "runA:1", Claim: 2, MaxBytes: 1 << 20, Now: now}); err != nil {
		t.Fatal(err)
	}
	results := []RunResult{{Index: 0, Status: batch.RunCompleted, Attempts: 2, CompletedAt: now}, {Index: 1, Status: batch.RunCompleted, Attempts: 1, CompletedAt: now}}
	if _, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runA:", Results: results}); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Second).UTC().Truncate(time.Millisecond)
	if err := s.ReconcileAttempts(ctx, b.ID, "runA:", []RunStart{{Index: 0, StartedAt: at}, {Index: 1, Attempt: 3, StartedAt: at}}); err != nil {
		t.Fatal(err)
	}
	r0, _ := s.GetRun(ctx, b.ID, 0)
	r1, _ := s.GetRun(ctx, b.ID, 1)
	if r0.Attempts != 2 || r0.StartedAt == nil || !r0.StartedAt.Equal(at) || r1.Attempts != 3 {
		t.Fatalf("run 0 %d attempts started %v; run 1 %d attempts", r0.Attempts, r0.StartedAt, r1.Attempts)
	}
}

// A payload that goes by reference (Step.RefFrom) counts 1 KiB against the
// claim's byte budget, not its size: a 1 MiB budget claims ten 200 KiB
// payloads by reference, and fewer inline.
func TestClaimCountsReferencesSmall(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	its := items(0, 10)
	big := `"` + strings.Repeat("x", 200<<10) + `"`
	for i := range its {
		its[i].Payload = &big
	}
	b := sealed(t, s, 10, its)
	t.Run("inline: the budget holds fewer", func(t *testing.T) {
		r, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "in:", Token: "in:1", Claim: 10, MaxBytes: 1 << 20, Now: time.Now()})
		if err != nil || len(r.Runs) != 5 {
			t.Fatalf("claimed %s (%v), want 5 runs of 200 KiB in 1 MiB", indexesOf(r.Runs), err)
		}
	})
	t.Run("by reference: every run", func(t *testing.T) {
		r, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "ref:", Token: "ref:1", Claim: 10, MaxBytes: 1 << 20, RefFrom: 4 << 10, Now: time.Now()})
		if err != nil || len(r.Runs) != 10 {
			t.Fatalf("claimed %s (%v), want all 10", indexesOf(r.Runs), err)
		}
	})
}
