package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// queueBatch creates a sealed batch of environment env whose runs have
// the given options (one item each).
func queueBatch(t *testing.T, s *Store, env Environment, options ...string) Batch {
	t.Helper()
	ctx := context.Background()
	b, cached, err := s.CreateBatchTx(ctx, NewBatch{ID: batch.NewBatchID(), Env: env, RunCount: len(options)}, func(Batch) error { return nil })
	if err != nil || cached {
		t.Fatal(err, cached)
	}
	its := make([]batch.Item, len(options))
	for i, o := range options {
		p := fmt.Sprintf(`{"i":%d}`, i)
		its[i] = batch.Item{Index: i, Task: "t", Payload: &p, PayloadType: batch.PayloadTypeJSON, Options: []byte(o)}
	}
	if _, err := s.InsertRuns(ctx, b.ID, its); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SealBatch(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	return b
}

func queueEnv(t *testing.T, s *Store) Environment {
	t.Helper()
	env, err := s.EnsureEnvironment(context.Background(), "e"+batch.NewStreamID())
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func repeat(n int, o string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// claim runs one claiming dispatch step of workflow run owner.
func claim(t *testing.T, s *Store, b Batch, owner string, step, n int, results ...RunResult) StepResult {
	t.Helper()
	r, err := s.DispatchStep(context.Background(), Step{BatchID: b.ID, Owner: owner + ":", Token: fmt.Sprintf("%s:%d", owner, step),
		Claim: n, MaxBytes: 1 << 20, Now: time.Now(), Results: results})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func done(indexes ...int) []RunResult {
	out := make([]RunResult, len(indexes))
	for k, i := range indexes {
		out[k] = RunResult{Index: i, Status: batch.RunCompleted, Attempts: 1, CompletedAt: time.Now()}
	}
	return out
}

// Two batches' dispatchers claiming at once from a queue with limit 5 take
// 5 runs between them; a run's outcome frees its slot for the other batch,
// which the step that recorded it names as woken.
func TestQueueLimitAcrossConcurrentClaimers(t *testing.T) {
	s := requireDB(t)
	env := queueEnv(t, s)
	opts := `{"queue":{"name":"q","concurrencyLimit":5}}`
	a, b := queueBatch(t, s, env, repeat(20, opts)...), queueBatch(t, s, env, repeat(20, opts)...)

	var ra, rb StepResult
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ra = claim(t, s, a, "runA", 1, 100) }()
	go func() { defer wg.Done(); rb = claim(t, s, b, "runB", 1, 100) }()
	wg.Wait()
	if n := len(ra.Runs) + len(rb.Runs); n != 5 {
		t.Fatalf("two concurrent claims took %d + %d runs of a queue with limit 5", len(ra.Runs), len(rb.Runs))
	}
	// Serialised by the queue lock, the first claim takes the 5 slots.
	holder, waiter, hr, wr, hOwner, wOwner := a, b, ra, rb, "runA", "runB"
	if len(rb.Runs) > 0 {
		holder, waiter, hr, wr, hOwner, wOwner = b, a, rb, ra, "runB", "runA"
	}
	if len(wr.Runs) != 0 || wr.Blocked == nil || *wr.Blocked != 0 || wr.BlockedQueue != "q" {
		t.Fatalf("the batch left without slots claimed %d and reports blocked=%v queue=%q, want 0, 0 and q",
			len(wr.Runs), wr.Blocked, wr.BlockedQueue)
	}
	// Two of the holder's runs end: the step that records them wakes the
	// waiter, which takes the two freed slots, no more.
	rec := claim(t, s, holder, hOwner, 2, 0, done(hr.Runs[0].Index, hr.Runs[1].Index)...)
	if len(rec.Woken) != 1 || rec.Woken[0].BatchID != waiter.ID || rec.Woken[0].From != 0 {
		t.Fatalf("recording two outcomes woke %+v, want batch %s from 0", rec.Woken, waiter.ID)
	}
	rb2 := claim(t, s, waiter, wOwner, 2, 100)
	if len(rb2.Runs) != 2 {
		t.Fatalf("after two slots were freed the waiting batch claimed %d runs, want 2", len(rb2.Runs))
	}
	q, err := s.GetQueue(context.Background(), env.ID, "q")
	if err != nil || q.Running != 5 || q.Queued != 33 || q.Limit() == nil || *q.Limit() != 5 {
		t.Fatalf("queue q: %+v (%v), want 5 running, 33 queued, limit 5", q, err)
	}
}

// With a concurrencyKey the limit applies per key: a key with a long
// backlog ahead in index order does not keep the claim from another key's
// runs.
func TestQueueKeysDoNotStarveEachOther(t *testing.T) {
	s := requireDB(t)
	env := queueEnv(t, s)
	opts := append(repeat(30, `{"queue":{"name":"q","concurrencyLimit":2},"concurrencyKey":"big"}`),
		repeat(3, `{"queue":{"name":"q","concurrencyLimit":2},"concurrencyKey":"small"}`)...)
	b := queueBatch(t, s, env, opts...)
	r := claim(t, s, b, "run", 1, 100)
	if got := indexesOf(r.Runs); got != "[0 1 30 31]" {
		t.Fatalf("claimed %s, want two runs of each key: [0 1 30 31]", got)
	}
	if r.Blocked == nil || *r.Blocked != 2 {
		t.Fatalf("blocked from %v, want 2", r.Blocked)
	}
	// The small key's next run comes as soon as one of its runs ends.
	r2 := claim(t, s, b, "run", 2, 100, done(30)...)
	if got := indexesOf(r2.Runs); got != "[32]" {
		t.Fatalf("after a small-key run ended the claim took %s, want [32]", got)
	}
}

// A paused queue dispatches nothing; resuming it names its waiters. An
// override limits a queue that its runs never limited (a task's own
// queue), and a reset lifts it.
func TestQueuePauseAndOverride(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env := queueEnv(t, s)
	if _, _, err := s.PauseQueue(ctx, env.ID, "task/t", true); err != nil {
		t.Fatal(err)
	}
	b := queueBatch(t, s, env, repeat(6, `{}`)...)
	if r := claim(t, s, b, "run", 1, 100); len(r.Runs) != 0 || r.Blocked == nil || r.BlockedQueue != "task/t" {
		t.Fatalf("a paused queue's runs: claimed %d, blocked %v on %q", len(r.Runs), r.Blocked, r.BlockedQueue)
	}
	q, woken, err := s.PauseQueue(ctx, env.ID, "task/t", false)
	if err != nil || q.Paused || len(woken) != 1 || woken[0].BatchID != b.ID {
		t.Fatalf("resume: %+v woke %+v (%v), want batch %s", q, woken, err, b.ID)
	}
	one := 1
	if _, _, err := s.OverrideQueueLimit(ctx, env.ID, "task/t", &one); err != nil {
		t.Fatal(err)
	}
	if r := claim(t, s, b, "run", 2, 100); len(r.Runs) != 1 {
		t.Fatalf("with the override of 1 the claim took %d runs", len(r.Runs))
	}
	q, woken, err = s.OverrideQueueLimit(ctx, env.ID, "task/t", nil)
	if err != nil || q.Limit() != nil || len(woken) != 1 {
		t.Fatalf("reset: %+v woke %+v (%v)", q, woken, err)
	}
	if r := claim(t, s, b, "run", 3, 100); len(r.Runs) != 5 || r.Blocked != nil {
		t.Fatalf("after the reset the claim took %d runs (blocked %v), want the other 5", len(r.Runs), r.Blocked)
	}
	byID, err := s.QueueNameByID(ctx, env.ID, q.ID)
	if err != nil || byID != "task/t" {
		t.Fatalf("queue %s by id: %q (%v)", q.ID, byID, err)
	}
}

// Runs of unlimited queues are claimed as before, also in an environment
// that has a limited queue, and a retried step gets back its own claims
// without them counting twice against the limit.
func TestQueueLimitRetriedStepAndUnlimitedRuns(t *testing.T) {
	s := requireDB(t)
	env := queueEnv(t, s)
	opts := append(repeat(4, `{"queue":{"name":"q","concurrencyLimit":2}}`), repeat(3, `{"queue":{"name":"free"}}`)...)
	b := queueBatch(t, s, env, opts...)
	r := claim(t, s, b, "run", 1, 100)
	if got := indexesOf(r.Runs); got != "[0 1 4 5 6]" {
		t.Fatalf("claimed %s, want [0 1 4 5 6]", got)
	}
	if again := claim(t, s, b, "run", 1, 100); indexesOf(again.Runs) != "[0 1 4 5 6]" {
		t.Fatalf("the retried step claimed %s", indexesOf(again.Runs))
	}
}

// Four batches' dispatchers claiming and recording at once, over and over,
// on one queue whose limit their runs name (each step records it): no
// step fails (no lock cycle) and the queue never has more than its limit
// of slots held.
func TestQueueLimitUnderConcurrentSteps(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env := queueEnv(t, s)
	const limit, perBatch = 3, 30
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		b := queueBatch(t, s, env, repeat(perBatch, fmt.Sprintf(`{"queue":{"name":"q","concurrencyLimit":%d}}`, limit))...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("w%d", w)
			var held []int
			for step := 1; step < 10*perBatch; step++ {
				r, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: owner + ":", Token: fmt.Sprintf("%s:%d", owner, step),
					Claim: 100, MaxBytes: 1 << 20, Now: time.Now(), Results: done(held...)})
				if err != nil {
					errs <- err
					return
				}
				held = held[:0]
				for _, c := range r.Runs {
					held = append(held, c.Index)
				}
				q, err := s.GetQueue(ctx, env.ID, "q")
				if err != nil || q.Running > limit {
					errs <- fmt.Errorf("queue after a step: %+v (%v)", q, err)
					return
				}
				if !r.Open {
					return
				}
			}
			errs <- fmt.Errorf("batch %s did not finish", b.ID)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// ListQueues pages the queues with a row by name, with their counts.
func TestListQueues(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	env := queueEnv(t, s)
	for _, n := range []string{"c", "a", "b"} {
		if _, _, err := s.PauseQueue(ctx, env.ID, n, false); err != nil {
			t.Fatal(err)
		}
	}
	queueBatch(t, s, env, repeat(4, `{"queue":{"name":"b"}}`)...)
	qs, total, err := s.ListQueues(ctx, env.ID, 1, 2)
	if err != nil || total != 3 || len(qs) != 2 || qs[0].Name != "b" || qs[1].Name != "c" {
		t.Fatalf("page: %+v of %d (%v)", qs, total, err)
	}
	if qs[0].Queued != 4 || qs[0].Running != 0 || qs[1].Queued != 0 {
		t.Fatalf("counts: b %+v, c %+v", qs[0], qs[1])
	}
}
