package api

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
)

// ReadGate bounds the heavy reads (pages of runs, a batch's results or run
// ids, one run with its payload and output) each environment has in flight
// at once, across API replicas (NewSharedReadGate).
type ReadGate interface {
	// Enter admits one read of env and returns the function that ends it,
	// or, when env is at its limit, a nil release and how long to wait
	// before trying again.
	Enter(ctx context.Context, env int64) (release func(), retryAfter time.Duration, err error)
	// Limit is the number of reads admitted per environment at once.
	Limit() int
}

// readRetryAfter is the Retry-After of a heavy read refused because its
// environment has too many in flight: one page takes about that long.
const readRetryAfter = time.Second

// readLease is how long a read's slot is leased; the read renews it every
// third of that while it lasts, so a replica that dies frees its slots
// within readLease.
const readLease = 30 * time.Second

// sharedReadGate keeps each environment's slots of heavy reads in
// PostgreSQL (store.TakeReadSlot), so every API replica counts against the
// same limit.
type sharedReadGate struct {
	store *store.Store
	max   int
	lease time.Duration
	log   *slog.Logger
}

// NewSharedReadGate admits max heavy reads per environment at once across
// every API replica on st's database.
func NewSharedReadGate(st *store.Store, max int, log *slog.Logger) ReadGate {
	return &sharedReadGate{store: st, max: max, lease: readLease, log: log}
}

func (g *sharedReadGate) Limit() int { return g.max }

func (g *sharedReadGate) Enter(ctx context.Context, env int64) (func(), time.Duration, error) {
	holder := batch.NewStreamID()
	slot, ok, err := g.store.TakeReadSlot(ctx, env, g.max, holder, g.lease)
	if err != nil || !ok {
		return nil, readRetryAfter, err
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(g.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.Background(), g.lease/3)
				if err := g.store.RenewReadSlot(rctx, env, slot, holder, g.lease); err != nil {
					g.log.Warn("renewing a read slot", "environment_id", env, "slot", slot, "error", err)
				}
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			// The request's context may be over (the client left).
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := g.store.ReleaseReadSlot(rctx, env, slot, holder); err != nil {
				g.log.Warn("releasing a read slot (it frees itself when its lease expires)", "environment_id", env, "slot", slot, "error", err)
			}
		})
	}, 0, nil
}

// heavyRead admits the request under its environment's limit of heavy reads
// in flight, or answers 429 with Retry-After. It runs after authentication.
func (s *Server) heavyRead(c *gin.Context) {
	if s.reads == nil {
		return
	}
	release, wait, err := s.reads.Enter(c.Request.Context(), envOf(c).ID)
	if err != nil {
		s.failInternal(c, err, true)
		return
	}
	if release == nil {
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		c.Header("Retry-After", strconv.Itoa(secs))
		// Milliseconds since the epoch, as the trigger.dev SDK reads it.
		c.Header("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(wait).UnixMilli(), 10))
		s.metrics.RateLimited(c.FullPath())
		fail(c, http.StatusTooManyRequests, fmt.Sprintf("Too many reads in flight for this environment (at most %d pages, results or runs at once): retry in %d s, or read with fewer clients at once", s.reads.Limit(), secs))
		return
	}
	defer release()
	c.Next()
}
