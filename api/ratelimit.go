package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// createLimiter is a token bucket per environment for batch creation that
// counts runs, as trigger.dev's does: rate runs per second, up to burst at
// once. A batch takes runCount tokens (a batch larger than the burst takes
// a full bucket), so many small batches are not throttled harder than one
// big one. The bucket is a row in PostgreSQL (store.TakeCreateTokens), so
// every API replica spends from the same one.
type createLimiter struct {
	rate  float64
	burst int
	// take spends n tokens of env's bucket: store.TakeCreateTokens.
	take func(ctx context.Context, env int64, rate float64, burst, n int) (granted bool, tokens float64, err error)
}

func newCreateLimiter(perSecond float64, burst int, take func(context.Context, int64, float64, int, int) (bool, float64, error)) *createLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &createLimiter{rate: perSecond, burst: max(burst, 1), take: take}
}

// spend takes n tokens of env's bucket (at most the burst), or says how
// long until they are free.
func (l *createLimiter) spend(ctx context.Context, env int64, n int) (ok bool, wait time.Duration, remaining int, err error) {
	n = min(max(n, 1), l.burst)
	granted, tokens, err := l.take(ctx, env, l.rate, l.burst, n)
	if err != nil {
		return false, 0, 0, err
	}
	if !granted {
		return false, time.Duration((float64(n) - tokens) / l.rate * float64(time.Second)), 0, nil
	}
	return true, 0, int(math.Max(0, math.Floor(tokens))), nil
}

// limitCreate answers 429 with Retry-After, and reports false, when the
// caller's environment creates runs faster than its bucket allows.
func (s *Server) limitCreate(c *gin.Context, runCount int) bool {
	if s.creates == nil {
		return true
	}
	ok, wait, remaining, err := s.creates.spend(c.Request.Context(), envOf(c).ID, runCount)
	if err != nil {
		s.failInternal(c, err, true)
		return false
	}
	now := time.Now()
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
		runCount, s.creates.rate, s.creates.burst, reset.UTC().Format(time.RFC3339)))
	return false
}
