package store

import (
	"context"
	"testing"
	"time"
)

// watchLive watches batch id once the listener is connected (the first
// watch starts it).
func watchLive(t *testing.T, s *Store, id string) (<-chan struct{}, func()) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, live, stop := s.WatchSettled(id)
		if live() {
			// A listener that connected between the watch and live()
			// woke it (every waiter reads its row again then): no
			// notification of the caller's yet, drop that wake-up.
			select {
			case <-c:
			default:
			}
			return c, stop
		}
		stop()
		if time.Now().After(deadline) {
			t.Fatal("the settled listener did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func receive(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(30 * time.Second):
		t.Fatalf("no wake-up: %s", what)
	}
}

// A batch leaving PENDING, sealed or aborted, wakes its waiters and only
// theirs.
func TestWatchSettled(t *testing.T) {
	s := requireDB(t)
	ctx := context.Background()
	t.Run("seal wakes the batch's waiters only", func(t *testing.T) {
		a, b := newBatch(t, s, 1), newBatch(t, s, 1)
		ca, stopA := watchLive(t, s, a.ID)
		defer stopA()
		cb, stopB := watchLive(t, s, b.ID)
		defer stopB()
		if _, err := s.InsertRuns(ctx, b.ID, items(0, 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SealBatch(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		receive(t, cb, "sealed batch")
		// Notifications are handled in order by one goroutine: had b's woken
		// a's waiter, it would have done so before b's.
		select {
		case <-ca:
			t.Fatal("another batch's seal woke this batch's waiter")
		default:
		}
	})
	t.Run("abort wakes", func(t *testing.T) {
		b := newBatch(t, s, 3)
		c, stop := watchLive(t, s, b.ID)
		defer stop()
		if _, err := s.AbortBatch(ctx, b.ID, "enough", false); err != nil {
			t.Fatal(err)
		}
		receive(t, c, "aborted batch")
	})
	t.Run("a lost connection wakes every waiter, and the listener comes back", func(t *testing.T) {
		b := newBatch(t, s, 1)
		c, stop := watchLive(t, s, b.ID)
		defer stop()
		tag, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+settledChannel+`'`)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("terminating the listener: %v, %d rows", err, tag.RowsAffected())
		}
		receive(t, c, "lost connection")
		// A settle while no connection listens notifies no one: a watch
		// that began then is woken when the listener is back.
		if down, live, stopDown := s.WatchSettled(b.ID); !live() {
			receive(t, down, "the listener back")
			stopDown()
		} else {
			stopDown()
			t.Log("the listener reconnected before the watch: its wake-up is not checked")
		}
		c2, stop2 := watchLive(t, s, b.ID)
		defer stop2()
		if _, err := s.AbortBatch(ctx, b.ID, "enough", false); err != nil {
			t.Fatal(err)
		}
		receive(t, c2, "aborted batch after the reconnection")
	})
}
