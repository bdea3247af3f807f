package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// newEnv returns a fresh environment's id.
func newEnv(t *testing.T, s *Store) int64 {
	t.Helper()
	e, err := s.EnsureEnvironment(context.Background(), "e"+batch.NewStreamID())
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// TestCreateBucketIsOneForEveryTaker: concurrent takes (as from many
// replicas: the bucket lives only in PostgreSQL) never grant more than the
// burst; the bucket refills at its rate; a refused take spends nothing.
func TestCreateBucketIsOneForEveryTaker(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env := newEnv(t, s)
	const burst, rate = 10, 0.001 // a token per 1,000 s: no refill during the test
	var granted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := s.TakeCreateTokens(ctx, env, rate, burst, 1)
			if err != nil {
				errs <- err
			}
			if ok {
				granted.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if g := granted.Load(); g > burst || g < 1 {
		t.Fatalf("%d of 40 takes granted, burst %d", g, burst)
	}
	ok, tokens, err := s.TakeCreateTokens(ctx, env, rate, burst, 1)
	if err != nil || ok || tokens >= 1 {
		t.Fatalf("a take of an empty bucket: %v %g %v", ok, tokens, err)
	}
	// 3,000 s later (moved back in the row): 3 tokens.
	if _, err := s.pool.Exec(ctx, `UPDATE create_buckets SET updated_at = updated_at - interval '3000 seconds' WHERE environment_id = $1`, env); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.TakeCreateTokens(ctx, env, rate, burst, 5); err != nil || ok {
		t.Fatalf("5 of ~3 tokens: %v %v", ok, err)
	}
	ok, tokens, err = s.TakeCreateTokens(ctx, env, rate, burst, 3)
	if err != nil || !ok || tokens < 0 || tokens >= 1 {
		t.Fatalf("3 of ~3 tokens: %v %g %v", ok, tokens, err)
	}
	// More than the burst takes a full bucket (a fresh environment's is full).
	other := newEnv(t, s)
	if ok, tokens, err := s.TakeCreateTokens(ctx, other, rate, burst, 500); err != nil || !ok || tokens != 0 {
		t.Fatalf("500 of a full bucket of %d: %v %g %v", burst, ok, tokens, err)
	}
}

// TestReadSlotsAreLeases: an environment's slots are shared by every
// holder; a released slot is free again; a slot whose lease expired (its
// replica died) is taken over, and its old holder's late release does not
// free it; concurrent takers never hold more than the slots.
func TestReadSlotsAreLeases(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env := newEnv(t, s)
	take := func(holder string) (int, bool) {
		t.Helper()
		slot, ok, err := s.TakeReadSlot(ctx, env, 2, holder, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return slot, ok
	}
	a, okA := take("a")
	b, okB := take("b")
	if !okA || !okB || a == b {
		t.Fatalf("two slots: %d %v, %d %v", a, okA, b, okB)
	}
	if _, ok := take("c"); ok {
		t.Fatal("a third read got one of two slots")
	}
	if err := s.ReleaseReadSlot(ctx, env, a, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := take("c"); !ok {
		t.Fatal("a released slot was not free")
	}
	// b's replica dies: its lease runs out.
	if _, err := s.pool.Exec(ctx, `UPDATE read_slots SET expires_at = now() - interval '1 second' WHERE environment_id = $1 AND holder = 'b'`, env); err != nil {
		t.Fatal(err)
	}
	d, ok := take("d")
	if !ok || d != b {
		t.Fatalf("the expired slot %d was not taken over: %d %v", b, d, ok)
	}
	if err := s.ReleaseReadSlot(ctx, env, b, "b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := take("e"); ok {
		t.Fatal("a late release by the expired holder freed the slot its successor holds")
	}
	// Renewing keeps a lease.
	if err := s.RenewReadSlot(ctx, env, d, "d", time.Hour); err != nil {
		t.Fatal(err)
	}

	crowd := newEnv(t, s)
	var held atomic.Int64
	var wg sync.WaitGroup
	for k := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := s.TakeReadSlot(ctx, crowd, 3, fmt.Sprint("h", k), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				held.Add(1)
			}
		}()
	}
	wg.Wait()
	if h := held.Load(); h > 3 || h < 1 {
		t.Fatalf("%d of 30 concurrent takers hold one of 3 slots", h)
	}
}
