package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// settledChannel is the channel migration 00021's trigger notifies with a
// batch's id when its row leaves PENDING (sealed or aborted).
const settledChannel = "streambatch_batch_settled"

// Reconnection backoff of the settled listener after its connection failed.
const (
	settledRetryFirst = 100 * time.Millisecond
	settledRetryMax   = 5 * time.Second
)

// settledWatch is one waiter for a batch to settle (leave PENDING).
type settledWatch struct {
	c  chan struct{}
	id string
}

// WatchSettled registers a waiter for batch id to settle (its row to leave
// PENDING: sealed or aborted). c receives when a notification names the
// batch, and also when the listener lost its connection or listens again
// (a notification may have been missed): either way the waiter reads the
// row again.
// live reports whether the listener is connected now; while it is not,
// the waiter must poll (it changes only with a wake-up on c, so a waiter
// asks again each time c receives). Call stop when done.
//
// The first call starts the store's one listener connection (LISTEN,
// outside the pool), which lives until Close. Read the row after
// WatchSettled, not before, so that a settle between the two is not lost.
func (s *Store) WatchSettled(id string) (c <-chan struct{}, live func() bool, stop func()) {
	w := s.settled.watch(id)
	return w.c, s.settled.isLive, func() { s.settled.remove(w) }
}

// settledHub holds one LISTEN connection and the waiters it wakes, by
// batch id. Bounded: one connection, one goroutine, one waiter per
// request waiting for a seal.
type settledHub struct {
	config *pgx.ConnConfig
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}

	mu      sync.Mutex
	live    bool
	waiters map[string]map[*settledWatch]struct{}
}

func newSettledHub(config *pgx.ConnConfig) *settledHub {
	ctx, cancel := context.WithCancel(context.Background())
	return &settledHub{config: config, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		waiters: map[string]map[*settledWatch]struct{}{}}
}

func (h *settledHub) watch(id string) *settledWatch {
	h.once.Do(func() { go h.run() })
	w := &settledWatch{c: make(chan struct{}, 1), id: id}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters[id] == nil {
		h.waiters[id] = map[*settledWatch]struct{}{}
	}
	h.waiters[id][w] = struct{}{}
	return w
}

// isLive reports whether the listener is connected.
func (h *settledHub) isLive() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.live
}

func (h *settledHub) remove(w *settledWatch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiters[w.id], w)
	if len(h.waiters[w.id]) == 0 {
		delete(h.waiters, w.id)
	}
}

// wake signals the waiters of batch id.
func (h *settledHub) wake(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.waiters[id] {
		w.signal()
	}
}

// wakeAll signals every waiter: the connection was lost, and with it
// perhaps a notification.
func (h *settledHub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ws := range h.waiters {
		for w := range ws {
			w.signal()
		}
	}
}

func (w *settledWatch) signal() {
	select {
	case w.c <- struct{}{}:
	default: // already signalled
	}
}

func (h *settledHub) setLive(live bool) {
	h.mu.Lock()
	h.live = live
	h.mu.Unlock()
}

// listening marks the listener live and wakes every waiter, at once: a
// batch that settled while no connection listened notified no one, so the
// waiters that watched meanwhile read their rows again; a watch that
// begins after this is live and is woken by notifications only.
func (h *settledHub) listening() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live = true
	for _, ws := range h.waiters {
		for w := range ws {
			w.signal()
		}
	}
}

// run listens until close, reconnecting with backoff.
func (h *settledHub) run() {
	defer close(h.done)
	wait := settledRetryFirst
	for h.ctx.Err() == nil {
		began := time.Now()
		_ = h.listen() // the error is the connection's end; waiters poll meanwhile
		h.setLive(false)
		h.wakeAll()
		if time.Since(began) > settledRetryMax {
			wait = settledRetryFirst
		}
		select {
		case <-h.ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, settledRetryMax)
	}
}

// listen connects, listens and wakes waiters until the connection fails or
// the hub closes.
func (h *settledHub) listen() error {
	conn, err := pgx.ConnectConfig(h.ctx, h.config.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(h.ctx, "LISTEN "+settledChannel); err != nil {
		return err
	}
	h.listening()
	for {
		n, err := conn.WaitForNotification(h.ctx)
		if err != nil {
			return err
		}
		h.wake(n.Payload)
	}
}

// close stops the listener (if it ever started) and waits for it.
func (h *settledHub) close() {
	h.cancel()
	started := true
	h.once.Do(func() { started = false })
	if started {
		<-h.done
	}
}
