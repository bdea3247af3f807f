package client_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeServer is an in-memory stand-in for streambatch's HTTP API, for unit
// tests and examples of the client's retry and resume logic only; the e2e
// tests run the client against the real server.
type fakeServer struct {
	mu       sync.Mutex
	runCount int
	accepted map[int]bool
	requests []string // "POST /api/v3/batches/x/items" …
	// fail answers the next requests to the items route with these
	// statuses (0 = cut the connection after reading some of the body).
	fail []int
	// retryAfter is sent with failures.
	retryAfter string
	srv        *httptest.Server
}

// newFakeServer starts a fake; t may be nil (examples close it themselves).
func newFakeServer(t testing.TB, runCount int) *fakeServer {
	f := &fakeServer{runCount: runCount, accepted: map[int]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	if t != nil {
		t.Cleanup(f.srv.Close)
	}
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer key" {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":"Invalid API key"}`)
		return
	}
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/v3/batches":
		w.Header().Set("x-trigger-jwt", "a.b.c")
		w.WriteHeader(202)
		fmt.Fprintf(w, `{"id":"batch_1","runCount":%d,"isCached":false}`, f.runCount)
	case r.Method == "GET" && r.URL.Path == "/api/v3/batches/batch_1/missing":
		f.mu.Lock()
		defer f.mu.Unlock()
		var missing [][2]int
		for i := 0; i < f.runCount; i++ {
			if !f.accepted[i] {
				if k := len(missing) - 1; k >= 0 && missing[k][1] == i {
					missing[k][1]++
				} else {
					missing = append(missing, [2]int{i, i + 1})
				}
			}
		}
		if missing == nil {
			missing = [][2]int{}
		}
		json.NewEncoder(w).Encode(map[string]any{"id": "batch_1", "runCount": f.runCount, "acceptedCount": len(f.accepted), "missing": missing})
	case r.Method == "POST" && r.URL.Path == "/api/v3/batches/batch_1/items":
		f.items(w, r)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":"Not found"}`)
	}
}

func (f *fakeServer) items(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var status int
	failing := len(f.fail) > 0
	if failing {
		status, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	sc := bufio.NewScanner(r.Body)
	accepted, dedup, read := 0, 0, 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var it struct{ Index int }
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"Invalid JSON at line %d"}`, read+1)
			return
		}
		read++
		if failing && status == 0 && read == 3 {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close() // cut mid-stream: the first items were accepted
			return
		}
		f.mu.Lock()
		if f.accepted[it.Index] {
			dedup++
		} else {
			f.accepted[it.Index] = true
			accepted++
		}
		f.mu.Unlock()
	}
	if failing && status != 0 {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":"failure %d"}`, status)
		return
	}
	f.mu.Lock()
	n := len(f.accepted)
	f.mu.Unlock()
	if n < f.runCount {
		fmt.Fprintf(w, `{"id":"batch_1","itemsAccepted":%d,"itemsDeduplicated":%d,"sealed":false,"enqueuedCount":%d,"expectedCount":%d,"runCount":%d}`, accepted, dedup, n, f.runCount, f.runCount)
		return
	}
	fmt.Fprintf(w, `{"id":"batch_1","itemsAccepted":%d,"itemsDeduplicated":%d,"sealed":true,"runCount":%d}`, accepted, dedup, f.runCount)
}

func (f *fakeServer) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}
