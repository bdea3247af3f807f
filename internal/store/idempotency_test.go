package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/streambatch/streambatch/batch"
)

// keyFixture is an environment in which batches share idempotency keys.
type keyFixture struct {
	t   *testing.T
	s   *Store
	env Environment
}

func newKeyFixture(t *testing.T) keyFixture {
	s := requireDB(t)
	env, err := s.EnsureEnvironment(context.Background(), "k"+batch.NewStreamID())
	if err != nil {
		t.Fatal(err)
	}
	return keyFixture{t: t, s: s, env: env}
}

// batch creates a PENDING batch of n runs in the fixture's environment.
func (f keyFixture) batch(n int) Batch {
	f.t.Helper()
	b, _, err := f.s.CreateBatchTx(context.Background(), NewBatch{ID: batch.NewBatchID(), Env: f.env, RunCount: n},
		func(Batch) error { return nil })
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// keyed returns an item of task at index whose options carry key (and ttl
// when not "").
func keyed(index int, task, key, ttl string) batch.Item {
	p := fmt.Sprintf(`{"i":%d}`, index)
	opts := fmt.Sprintf(`{"idempotencyKey":%q}`, key)
	if ttl != "" {
		opts = fmt.Sprintf(`{"idempotencyKey":%q,"idempotencyKeyTTL":%q}`, key, ttl)
	}
	return batch.Item{Index: index, Task: task, Payload: &p, PayloadType: batch.PayloadTypeJSON, Options: []byte(opts)}
}

// insert inserts its and fails the test unless all were inserted.
func (f keyFixture) insert(b Batch, its ...batch.Item) {
	f.t.Helper()
	if n, err := f.s.InsertRuns(context.Background(), b.ID, its); err != nil || n != len(its) {
		f.t.Fatalf("InsertRuns = %d, %v; want %d", n, err, len(its))
	}
}

// named returns what the run at index of b is: its own id, or for a
// CACHED row "cached:" and the id it names.
func (f keyFixture) named(b Batch, index int) string {
	f.t.Helper()
	r, err := f.s.GetRun(context.Background(), b.ID, index)
	if err != nil {
		f.t.Fatal(err)
	}
	if r.Status == batch.RunCached {
		if r.CachedRunID == "" {
			f.t.Fatalf("CACHED run %s names no run", r.ID)
		}
		return "cached:" + r.CachedRunID
	}
	if r.CachedRunID != "" {
		f.t.Fatalf("%s run %s names %s", r.Status, r.ID, r.CachedRunID)
	}
	return r.ID
}

func TestItemIdempotencyKeys(t *testing.T) {
	t.Run("a key names the first run of its task in the environment", func(t *testing.T) {
		f := newKeyFixture(t)
		b1, b2 := f.batch(2), f.batch(3)
		f.insert(b1, keyed(0, "t", "k", ""), keyed(1, "u", "k", ""))
		f.insert(b2, keyed(0, "t", "k", ""), keyed(1, "u", "k", ""), keyed(2, "t", "other", ""))
		for _, want := range []struct {
			b     Batch
			index int
			is    string
		}{
			{b1, 0, batch.RunID(b1.ID, 0)}, {b1, 1, batch.RunID(b1.ID, 1)},
			{b2, 0, "cached:" + batch.RunID(b1.ID, 0)}, {b2, 1, "cached:" + batch.RunID(b1.ID, 1)},
			{b2, 2, batch.RunID(b2.ID, 2)},
		} {
			if got := f.named(want.b, want.index); got != want.is {
				t.Errorf("run %d of %s is %s, want %s", want.index, want.b.ID, got, want.is)
			}
		}
		// Another environment has keys of its own.
		other := newBatch(t, f.s, 1)
		if n, err := f.s.InsertRuns(context.Background(), other.ID, []batch.Item{keyed(0, "t", "k", "")}); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		if got := f.named(other, 0); got != batch.RunID(other.ID, 0) {
			t.Fatalf("a key of another environment named %s", got)
		}
	})

	t.Run("two items with one key in a chunk make one run, on both insert paths", func(t *testing.T) {
		f := newKeyFixture(t)
		b := f.batch(6)
		f.insert(b, keyed(0, "t", "a", ""), keyed(1, "t", "a", ""), keyed(2, "t", "b", ""))
		// A retried chunk with more items goes through the insert that
		// skips duplicates.
		if n, err := f.s.InsertRuns(context.Background(), b.ID, []batch.Item{keyed(2, "t", "b", ""), keyed(3, "t", "b", ""),
			keyed(4, "t", "a", ""), keyed(5, "t", "c", "")}); err != nil || n != 3 {
			t.Fatalf("InsertRuns = %d, %v; want 3", n, err)
		}
		want := []string{batch.RunID(b.ID, 0), "cached:" + batch.RunID(b.ID, 0), batch.RunID(b.ID, 2),
			"cached:" + batch.RunID(b.ID, 2), "cached:" + batch.RunID(b.ID, 0), batch.RunID(b.ID, 5)}
		for i, w := range want {
			if got := f.named(b, i); got != w {
				t.Errorf("run %d is %s, want %s", i, got, w)
			}
		}
		var got []string
		if err := f.s.EachCachedRun(context.Background(), b.ID, func(i int, id string) bool {
			got = append(got, fmt.Sprint(i, " ", id))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprintf("[1 %s 3 %s 4 %s]", batch.RunID(b.ID, 0), batch.RunID(b.ID, 2), batch.RunID(b.ID, 0)) {
			t.Fatalf("EachCachedRun: %v", got)
		}
		if has, err := f.s.HasCachedRuns(context.Background(), b.ID); err != nil || !has {
			t.Fatalf("HasCachedRuns = %v, %v", has, err)
		}
	})

	t.Run("batches racing on the same keys make one run per key", func(t *testing.T) {
		f := newKeyFixture(t)
		const batches, keys = 8, 20
		bs := make([]Batch, batches)
		for k := range bs {
			bs[k] = f.batch(keys)
		}
		var g errgroup.Group
		for k, b := range bs {
			g.Go(func() error {
				its := make([]batch.Item, keys)
				for i := range its {
					// Keys in another order in every batch.
					its[i] = keyed(i, "t", fmt.Sprint("key", (i*7+k*3)%keys), "")
				}
				_, err := f.s.InsertRuns(context.Background(), b.ID, its)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		owners := map[string]string{} // key → run id
		var cached [][2]string        // key, what its item is
		for k, b := range bs {
			for i := range keys {
				key := fmt.Sprint("key", (i*7+k*3)%keys)
				got := f.named(b, i)
				if got == batch.RunID(b.ID, i) {
					if prev, dup := owners[key]; dup {
						t.Fatalf("%s has two runs: %s and %s", key, prev, got)
					}
					owners[key] = got
				} else {
					cached = append(cached, [2]string{key, got})
				}
			}
		}
		if len(owners) != keys {
			t.Fatalf("%d keys have a run of their own, want %d", len(owners), keys)
		}
		for _, c := range cached {
			if c[1] != "cached:"+owners[c[0]] {
				t.Fatalf("an item of %s is %s, want cached:%s", c[0], c[1], owners[c[0]])
			}
		}
	})

	t.Run("an expired key or a failed run lets an item make a new run", func(t *testing.T) {
		f := newKeyFixture(t)
		ctx := context.Background()
		b1, b2, b3 := f.batch(3), f.batch(3), f.batch(3)
		f.insert(b1, keyed(0, "t", "expires", "0s"), keyed(1, "t", "lives", "1h"), keyed(2, "t", "fails", ""))
		if _, err := f.s.pool.Exec(ctx, `UPDATE runs SET status = 'FAILED', error_code = 'Boom' WHERE batch_id = $1 AND batch_index = 2`, b1.ID); err != nil {
			t.Fatal(err)
		}
		f.insert(b2, keyed(0, "t", "expires", ""), keyed(1, "t", "lives", ""), keyed(2, "t", "fails", ""))
		want := []string{batch.RunID(b2.ID, 0), "cached:" + batch.RunID(b1.ID, 1), batch.RunID(b2.ID, 2)}
		for i, w := range want {
			if got := f.named(b2, i); got != w {
				t.Errorf("run %d is %s, want %s", i, got, w)
			}
		}
		// The keys moved to the new runs (with the default TTL).
		f.insert(b3, keyed(0, "t", "expires", ""), keyed(1, "t", "lives", ""), keyed(2, "t", "fails", ""))
		want = []string{"cached:" + batch.RunID(b2.ID, 0), "cached:" + batch.RunID(b1.ID, 1), "cached:" + batch.RunID(b2.ID, 2)}
		for i, w := range want {
			if got := f.named(b3, i); got != w {
				t.Errorf("run %d of the third batch is %s, want %s", i, got, w)
			}
		}
	})

	t.Run("a reset key makes a new run; an unknown one is not found", func(t *testing.T) {
		f := newKeyFixture(t)
		ctx := context.Background()
		b1, b2 := f.batch(1), f.batch(1)
		f.insert(b1, keyed(0, "t", "k", ""))
		if err := f.s.ResetIdempotencyKey(ctx, f.env.ID, "k", "other-task"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("reset of another task's key: %v, want ErrNotFound", err)
		}
		if err := f.s.ResetIdempotencyKey(ctx, f.env.ID, "k", "t"); err != nil {
			t.Fatal(err)
		}
		if err := f.s.ResetIdempotencyKey(ctx, f.env.ID, "k", "t"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second reset: %v, want ErrNotFound", err)
		}
		f.insert(b2, keyed(0, "t", "k", ""))
		if got := f.named(b2, 0); got != batch.RunID(b2.ID, 0) {
			t.Fatalf("after the reset the item is %s", got)
		}
	})

	t.Run("a key lists the runs it names", func(t *testing.T) {
		f := newKeyFixture(t)
		ctx := context.Background()
		b1, b2 := f.batch(2), f.batch(2)
		f.insert(b1, keyed(0, "t", "k", ""), keyed(1, "u", "k", ""))
		f.insert(b2, keyed(0, "t", "k", ""), keyed(1, "t", "j", ""))
		runs, err := f.s.IdempotencyKeyRuns(ctx, f.env.ID, "k")
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 || runs[0].ID != batch.RunID(b1.ID, 0) || runs[1].ID != batch.RunID(b1.ID, 1) {
			t.Fatalf("runs of k: %+v", runs)
		}
		if runs, err := f.s.IdempotencyKeyRuns(ctx, f.env.ID+1_000_000, "k"); err != nil || len(runs) != 0 {
			t.Fatalf("another environment: %+v, %v", runs, err)
		}
	})

	t.Run("CACHED runs never execute and do not hold their batch open", func(t *testing.T) {
		f := newKeyFixture(t)
		ctx := context.Background()
		b1, b2 := f.batch(1), f.batch(2)
		f.insert(b1, keyed(0, "t", "k", ""))
		f.insert(b2, keyed(0, "t", "k", ""), keyed(1, "t", "j", ""))
		if _, err := f.s.SealBatch(ctx, b2.ID); err != nil {
			t.Fatal(err)
		}
		res, err := f.s.DispatchStep(ctx, Step{BatchID: b2.ID, Owner: "w:", Token: "w:1", Claim: 10, MaxBytes: 1 << 20, Now: time.Now()})
		if err != nil || indexesOf(res.Runs) != "[1]" {
			t.Fatalf("claimed %s (%v), want [1]", indexesOf(res.Runs), err)
		}
		done := []RunResult{{Index: 1, Status: batch.RunCompleted, Attempts: 1, CompletedAt: time.Now()}}
		if _, err := f.s.DispatchStep(ctx, Step{BatchID: b2.ID, Owner: "w:", Results: done}); err != nil {
			t.Fatal(err)
		}
		if _, completed, err := f.s.CompleteBatch(ctx, b2.ID); err != nil || !completed {
			t.Fatalf("CompleteBatch = %v, %v", completed, err)
		}
		// The run the CACHED row names is still QUEUED in its own batch.
		if r, _ := f.s.GetRun(ctx, b1.ID, 0); r.Status != batch.RunQueued {
			t.Fatalf("the named run is %s", r.Status)
		}
	})

	t.Run("expired keys are swept, oldest first, live ones kept", func(t *testing.T) {
		f := newKeyFixture(t)
		ctx := context.Background()
		b := f.batch(2)
		f.insert(b, keyed(0, "t", "old", "0s"), keyed(1, "t", "live", "1h"))
		var before int
		if err := f.s.pool.QueryRow(ctx, `SELECT count(*) FROM run_idempotency_keys WHERE environment_id = $1`, f.env.ID).Scan(&before); err != nil || before != 2 {
			t.Fatal(before, err)
		}
		// Other tests' keys may expire too: sweep until this one is gone.
		for {
			n, err := f.s.DeleteExpiredIdempotencyKeys(ctx, time.Now().Add(time.Minute), 1000)
			if err != nil {
				t.Fatal(err)
			}
			if n < 1000 {
				break
			}
		}
		var left []string
		rows, _ := f.s.pool.Query(ctx, `SELECT batch_index::text FROM run_idempotency_keys WHERE environment_id = $1`, f.env.ID)
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			left = append(left, s)
		}
		if rows.Err() != nil || fmt.Sprint(left) != "[1]" {
			t.Fatalf("keys left: %v (%v)", left, rows.Err())
		}
	})
}

// Items without keys claim nothing (the hot path pays no statement).
func TestItemsWithoutKeysClaimNothing(t *testing.T) {
	s := requireDB(t)
	b := newBatch(t, s, 4)
	its := items(0, 4)
	its[1].Options = []byte(`{"idempotencyKeyTTL":"1h","idempotencyKeyOptions":{"key":"k","scope":"global"}}`)
	its[2].Options = []byte(`{"idempotencyKey":"k","maxAttempts":500}`) // refused: its run fails
	its[3].Options = []byte(`{"idempotencyKey":"k"}`)
	its[3].ErrorCode, its[3].ErrorMessage = batch.ErrorPayloadTooLarge, "too large"
	cached, err := func() ([]*string, error) {
		tx, err := s.pool.Begin(context.Background())
		if err != nil {
			return nil, err
		}
		defer tx.Rollback(context.Background())
		return s.resolveKeys(context.Background(), tx, b.EnvironmentID, b.ID, its)
	}()
	if err != nil || cached != nil {
		t.Fatalf("resolveKeys = %v, %v", cached, err)
	}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM run_idempotency_keys WHERE batch_id = $1`, b.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d keys claimed (%v)", n, err)
	}
}
