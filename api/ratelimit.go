package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// createLimiter is a token bucket per environment for batch creation: rate
// batches per second, up to burst at once. It is per API process.
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

// take spends a token of env's bucket, or says how long until one is free.
func (l *createLimiter) take(env int64, now time.Time) (ok bool, wait time.Duration, remaining int) {
	l.mu.Lock()
	lim, found := l.perEnv[env]
	if !found {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.perEnv[env] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, 0
	}
	return true, 0, int(math.Max(0, math.Floor(lim.TokensAt(now))))
}

// limitCreates answers 429 with Retry-After when the caller's environment
// creates batches faster than its bucket allows.
func (s *Server) limitCreates(c *gin.Context) {
	if s.creates == nil {
		return
	}
	now := time.Now()
	ok, wait, remaining := s.creates.take(envOf(c).ID, now)
	c.Header("X-RateLimit-Limit", strconv.Itoa(s.creates.burst))
	c.Header("X-RateLimit-Remaining", strconv.Itoa(remaining))
	if ok {
		return
	}
	secs := int(math.Ceil(wait.Seconds()))
	reset := now.Add(wait)
	// Milliseconds since the epoch, as the trigger.dev SDK reads it.
	c.Header("X-RateLimit-Reset", strconv.FormatInt(reset.UnixMilli(), 10))
	c.Header("Retry-After", strconv.Itoa(max(secs, 1)))
	s.metrics.RateLimited(c.FullPath())
	fail(c, http.StatusTooManyRequests, "Batch rate limit exceeded. Limit resets at "+reset.UTC().Format(time.RFC3339))
}
