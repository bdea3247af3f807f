package store

import (
	"context"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// A run waits for a worker from its claim until a worker starts it (or it
// finishes): the batch's count and its oldest claim time, and the count by
// environment and queue, follow it. A retried step keeps its claim time; a
// replay clears it.
func TestWaitingForWorker(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	its := items(0, 6)
	for _, i := range []int{1, 2} {
		its[i].Options = []byte(`{"queue":{"name":"gpu"}}`)
	}
	b := sealed(t, s, 6, its)
	waiting := func() Waiting {
		t.Helper()
		counts, w, err := s.RunCountsWaiting(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if counts[batch.RunQueued] != 6-counts[batch.RunExecuting]-counts[batch.RunCompleted] {
			t.Fatalf("counts %v", counts)
		}
		return w
	}
	byQueue := func() map[string]QueueWaiting {
		t.Helper()
		all, err := s.WaitingByQueue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]QueueWaiting{}
		for _, q := range all {
			if q.Env == b.EnvName {
				out[q.Queue] = q
			}
		}
		return out
	}
	if w := waiting(); w.Runs != 0 || w.Since != nil {
		t.Fatalf("before any claim: %+v", w)
	}
	if q := byQueue(); len(q) != 0 {
		t.Fatalf("by queue before any claim: %+v", q)
	}

	// A claim token no other test uses: a step takes back its token's open
	// claims whatever their batch.
	step := Step{BatchID: b.ID, Owner: "runW:", Token: "runW:1", Claim: 4, MaxBytes: 1 << 20, Now: time.Now()}
	if _, err := s.DispatchStep(ctx, step); err != nil {
		t.Fatal(err)
	}
	w := waiting()
	if w.Runs != 4 || w.Since == nil {
		t.Fatalf("after claiming 4: %+v", w)
	}
	since := *w.Since
	q := byQueue()
	if q[""].Runs != 2 || q["gpu"].Runs != 2 || q["gpu"].Since == nil || len(q) != 2 {
		t.Fatalf("by queue after claiming 4: %+v", q)
	}
	// The same step retried keeps the claim time.
	if _, err := s.DispatchStep(ctx, step); err != nil {
		t.Fatal(err)
	}
	if w := waiting(); w.Runs != 4 || w.Since == nil || !w.Since.Equal(since) {
		t.Fatalf("after a retried step: %+v, claimed at %s", w, since)
	}

	// A worker starts run 1, run 0 finishes: two still wait.
	now := time.Now()
	_, err := s.DispatchStep(ctx, Step{BatchID: b.ID, Owner: "runW:", Started: []RunStart{{Index: 1, Attempt: 1, StartedAt: now}},
		Results: []RunResult{{Index: 0, Status: batch.RunCompleted, Output: strp(`1`), OutputType: strp(batch.OutputTypeJSON), Attempts: 1, CompletedAt: now}}})
	if err != nil {
		t.Fatal(err)
	}
	if w := waiting(); w.Runs != 2 || w.Since == nil {
		t.Fatalf("after a start and a finish: %+v", w)
	}
	if q := byQueue(); q[""].Runs != 1 || q["gpu"].Runs != 1 {
		t.Fatalf("by queue after a start and a finish: %+v", q)
	}
}

// WaitingForWorker counts only QUEUED runs that were claimed, and keeps
// the oldest claim.
func TestWaitingForWorkerDerivation(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	w := WaitingForWorker([]StatusGroup{
		{Status: batch.RunExecuting, Count: 5, Claimed: 5, OldestClaim: &t0},
		{Status: batch.RunQueued, Count: 10, Claimed: 3, OldestClaim: &t1},
		{Status: batch.RunCompleted, Count: 2, Claimed: 2, OldestClaim: &t0},
	})
	if w.Runs != 3 || w.Since == nil || !w.Since.Equal(t1) {
		t.Fatalf("got %+v", w)
	}
	if w := WaitingForWorker([]StatusGroup{{Status: batch.RunQueued, Count: 10}}); w.Runs != 0 || w.Since != nil {
		t.Fatalf("unclaimed runs wait for the dispatcher, not a worker: %+v", w)
	}
}

// Groups whose options.queue differ only in spelling are one queue.
func TestMergeQueues(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	got := mergeQueues([]QueueWaiting{
		{Env: "b", Queue: "q", Waiting: Waiting{Runs: 1, Since: &t1}},
		{Env: "a", Queue: "", Waiting: Waiting{Runs: 2}},
		{Env: "b", Queue: "q", Waiting: Waiting{Runs: 3, Since: &t0}},
	})
	if len(got) != 2 || got[0].Env != "a" || got[1].Runs != 4 || !got[1].Since.Equal(t0) {
		t.Fatalf("got %+v", got)
	}
	// The queue's name, read as the dispatcher reads it ("" when refused).
	if queueName([]byte(`{"name": "x", "concurrencyLimit": 2}`)) != "x" || queueName(nil) != "" ||
		queueName([]byte(`"bad"`)) != "" || queueName([]byte(`{"name":"bad name"}`)) != "" {
		t.Fatal("queueName")
	}
}
