package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// ReadGate bounds the heavy reads (pages of runs, a batch's results or run
// ids, one run with its payload and output) each environment has in flight
// at once.
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

// localReadGate counts heavy reads in this process only.
type localReadGate struct {
	max    int
	mu     sync.Mutex
	perEnv map[int64]int
}

// NewLocalReadGate admits max heavy reads per environment at once, counted
// in this process (a single API replica, or tests).
func NewLocalReadGate(max int) ReadGate {
	return &localReadGate{max: max, perEnv: map[int64]int{}}
}

func (g *localReadGate) Limit() int { return g.max }

func (g *localReadGate) Enter(_ context.Context, env int64) (func(), time.Duration, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perEnv[env] >= g.max {
		return nil, readRetryAfter, nil
	}
	g.perEnv[env]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.perEnv[env]--; g.perEnv[env] <= 0 {
				delete(g.perEnv, env)
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
