package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// createLimiter is a token bucket per environment for batch creation that
// counts runs, as trigger.dev's does: rate runs per second, up to burst at
// once. A batch takes runCount tokens (a batch larger than the burst takes
// a full bucket), so many small batches are not throttled harder than one
// big one. It is per API process.
type createLimiter struct {
	mu     sync.Mutex
	rate   rate.Limit
	burst  int
	perEnv map[int64]*rate.Limiter
}

func newCreateLimiter(perSecond float64, burst int) *createLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &createLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), perEnv: map[int64]*rate.Limiter{}}
}

// take spends n tokens of env's bucket (at most the burst), or says how
// long until they are free.
func (l *createLimiter) take(env int64, now time.Time, n int) (ok bool, wait time.Duration, remaining int) {
	l.mu.Lock()
	lim, found := l.perEnv[env]
	if !found {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.perEnv[env] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, min(max(n, 1), l.burst))
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, 0
	}
	return true, 0, int(math.Max(0, math.Floor(lim.TokensAt(now))))
}

// limitCreate answers 429 with Retry-After, and reports false, when the
// caller's environment creates runs faster than its bucket allows.
func (s *Server) limitCreate(c *gin.Context, runCount int) bool {
	if s.creates == nil {
		return true
	}
	now := time.Now()
	ok, wait, remaining := s.creates.take(envOf(c).ID, now, runCount)
	c.Header("X-RateLimit-Limit", strconv.Itoa(s.creates.burst))
	c.Header("X-RateLimit-Remaining", strconv.Itoa(remaining))
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	reset := now.Add(wait)
	// Milliseconds since the epoch, as the trigger.dev SDK reads it.
	c.Header("X-RateLimit-Reset", strconv.FormatInt(reset.UnixMilli(), 10))
	c.Header("Retry-After", strconv.Itoa(max(secs, 1)))
	s.metrics.RateLimited(c.FullPath())
	fail(c, http.StatusTooManyRequests, fmt.Sprintf("Batch rate limit exceeded: %d runs over the environment's %g runs/s (burst %d). Limit resets at %s",
		runCount, float64(s.creates.rate), s.creates.burst, reset.UTC().Format(time.RFC3339)))
	return false
}
