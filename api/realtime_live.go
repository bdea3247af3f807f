package api

import "sync"

// liveLimiter counts each environment's live realtime requests (long
// polls) on this server, up to limit at once: each holds a connection and
// polls PostgreSQL while it waits.
type liveLimiter struct {
	limit int
	mu    sync.Mutex
	n     map[int64]int
}

// newLiveLimiter returns a limiter of limit live requests per environment.
func newLiveLimiter(limit int) *liveLimiter {
	return &liveLimiter{limit: limit, n: map[int64]int{}}
}

// enter admits one live request of env and returns the function that ends
// it (once, however often it is called), or nil when env has limit in
// flight.
func (l *liveLimiter) enter(env int64) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[env] >= l.limit {
		return nil
	}
	l.n[env]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.n[env]--; l.n[env] == 0 {
				delete(l.n, env)
			}
		})
	}
}

// inFlight is how many live requests env has now.
func (l *liveLimiter) inFlight(env int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[env]
}
