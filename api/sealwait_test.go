package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	"github.com/streambatch/streambatch/workflows/flow"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

// A small batch's BatchIngest goes on to execute the runs after sealing, so
// its end comes with the runs': the seal wait reads the batch's row
// instead. A batch too large for that waits for the workflow's end only.
func TestSealWaitOfASmallBatchReadsItsRow(t *testing.T) {
	t.Parallel()
	reason := "enough"
	runsForever := func(ctx context.Context) (ingestwf.Result, error) { <-ctx.Done(); return ingestwf.Result{}, ctx.Err() }
	cases := []struct {
		name     string
		row      store.Batch
		runCount int
		state    string
		err      bool
	}{
		{"sealed row", store.Batch{Status: batch.StatusProcessing, Sealed: true}, 10, ingestwf.StateSealed, false},
		{"aborted row", store.Batch{Status: batch.StatusAborted, AbortReason: &reason}, 10, ingestwf.StateAborted, false},
		{"too large to run here: the workflow's end only", store.Batch{Status: batch.StatusProcessing, Sealed: true}, 11, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHandlerFixture()
			f.srv.opts.SealWait = 300 * time.Millisecond
			f.srv.opts.RunsHere = &flow.RunsHere{MaxRuns: 10}
			f.wf.wait = runsForever
			b := tc.row
			b.ID, b.RunCount = "batch_small", tc.runCount
			f.store.batches[b.ID] = b
			r, err := f.srv.waitForSeal(context.Background(), b)
			if tc.err {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %+v, %v; want the wait to run out", r, err)
				}
				return
			}
			if err != nil || r.State != tc.state {
				t.Fatalf("got %+v, %v; want state %s", r, err, tc.state)
			}
			if tc.state == ingestwf.StateAborted && r.Reason != reason {
				t.Fatalf("reason %q, want %q", r.Reason, reason)
			}
		})
	}
}

// sealWaitFixture is a small batch's seal wait with the settled listener
// up, its BatchIngest never ending and the polls on p: seal marks the row
// sealed; watched is closed once the wait watches the batch.
func sealWaitFixture(p sealPolling) (f *handlerFixture, b store.Batch, seal func(), watched chan struct{}) {
	f = newHandlerFixture()
	f.srv.opts.SealWait = 10 * time.Second
	f.srv.opts.RunsHere = &flow.RunsHere{MaxRuns: 10}
	f.srv.sealPoll = p
	f.wf.wait = func(ctx context.Context) (ingestwf.Result, error) { <-ctx.Done(); return ingestwf.Result{}, ctx.Err() }
	b = store.Batch{ID: "batch_small", RunCount: 10, Status: batch.StatusPending}
	f.store.batches[b.ID] = b
	f.store.settled, f.store.settledLive, f.store.watched = make(chan struct{}, 1), true, make(chan struct{})
	seal = func() {
		f.store.mu.Lock()
		defer f.store.mu.Unlock()
		sealed := b
		sealed.Status, sealed.Sealed = batch.StatusProcessing, true
		f.store.batches[b.ID] = sealed
	}
	return f, b, seal, f.store.watched
}

// With the settled listener up, the seal wait answers when PostgreSQL
// notifies that the batch settled, without waiting for a poll.
func TestSealWaitWakesOnTheSettledNotification(t *testing.T) {
	t.Parallel()
	f, b, seal, watched := sealWaitFixture(sealPolling{first: time.Hour, most: time.Hour, firstDown: time.Hour, mostDown: time.Hour})
	go func() {
		<-watched
		seal()
		f.store.settled <- struct{}{}
	}()
	r, err := f.srv.waitForSeal(context.Background(), b)
	if err != nil || r.State != ingestwf.StateSealed {
		t.Fatalf("got %+v, %v; want sealed on the notification", r, err)
	}
}

// A wait that began with the listener up and sees it drop polls on the
// fast schedule from then on: a settle while the listener is down notifies
// no one, and the slow schedule would answer up to its most late.
func TestSealWaitPollsFastOnceTheListenerDrops(t *testing.T) {
	t.Parallel()
	f, b, seal, watched := sealWaitFixture(sealPolling{first: time.Hour, most: time.Hour, firstDown: 10 * time.Millisecond, mostDown: 10 * time.Millisecond})
	reads := make(chan struct{}, 2)
	f.store.rowReads = reads
	go func() {
		<-watched
		// The listener drops (its waiters are woken) ...
		f.store.mu.Lock()
		f.store.settledLive = false
		f.store.mu.Unlock()
		f.store.settled <- struct{}{}
		// ... and, once the waiter read the row again, the batch settles
		// unnotified.
		<-reads
		<-reads
		seal()
	}()
	r, err := f.srv.waitForSeal(context.Background(), b)
	if err != nil || r.State != ingestwf.StateSealed {
		t.Fatalf("got %+v, %v; want sealed by the fast poll", r, err)
	}
}
