package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streambatch/streambatch/api"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/proc"
)

// TestLimitsSharedByReplicas: two `streambatch serve` processes on one
// database share each environment's limits. Creating one-run batches on
// both in turn, with a bucket of 10 runs that refills one run per 1,000 s,
// admits no more than 10 in all (with a bucket per process, 20 passed),
// and both refuse with 429, Retry-After and the X-RateLimit headers once
// it is spent. A heavy read held by a third party (this test, through the
// shared read gate, as another replica would) fills an environment's one
// read slot: both processes answer that environment's reads 429 until it
// ends.
func TestLimitsSharedByReplicas(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	k := newFaultKit(t, s)
	envName, key := s.newKey(t)
	procEnv := append(s.env(s.cfg), config.EnvCreateRate+"=0.001", config.EnvCreateBurst+"=10", config.EnvReadConcurrency+"=1")
	var bases []string
	for r := range 2 {
		addr, err := proc.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		k.serve(t, fmt.Sprintf("serve%d", r+1), procEnv, addr)
		bases = append(bases, "http://"+addr)
	}
	do := func(method, url, body string) (reply, string) {
		t.Helper()
		resp := send(t, http.DefaultClient, method, url, strings.NewReader(body), withKey(key, "application/json"))
		return resp, string(resp.Body)
	}

	admitted, refused := 0, [2]int{}
	var id string
	for i := range 30 {
		r := i % 2
		resp, raw := do(http.MethodPost, bases[r]+"/api/v3/batches", `{"runCount":1}`)
		switch resp.StatusCode {
		case http.StatusAccepted:
			admitted++
			if id == "" {
				var out struct{ ID string }
				_ = json.Unmarshal([]byte(raw), &out)
				id = out.ID
			}
		case http.StatusTooManyRequests:
			refused[r]++
			var e struct{ Error string }
			ms, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
			if json.Unmarshal([]byte(raw), &e) != nil || !strings.Contains(e.Error, "rate limit") || resp.Header.Get("Retry-After") == "" ||
				resp.Header.Get("X-RateLimit-Limit") != "10" || resp.Header.Get("X-RateLimit-Remaining") != "0" || ms < time.Now().UnixMilli() {
				t.Fatalf("replica %d refused: %s %v", r+1, raw, resp.Header)
			}
		default:
			t.Fatalf("replica %d: %d %s", r+1, resp.StatusCode, raw)
		}
	}
	if admitted > 10 || admitted < 1 || refused[0] == 0 || refused[1] == 0 {
		t.Fatalf("two replicas admitted %d batches of one run (bucket of 10), refused %v", admitted, refused)
	}

	// Reads: hold the environment's one slot as another replica would.
	e, err := s.app.Store.EnsureEnvironment(context.Background(), envName)
	if err != nil {
		t.Fatal(err)
	}
	gate := api.NewSharedReadGate(s.app.Store, 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	release, _, err := gate.Enter(context.Background(), e.ID)
	if err != nil || release == nil {
		t.Fatalf("holding the read slot: %v", err)
	}
	for r, base := range bases {
		resp, raw := do(http.MethodGet, base+"/api/v3/batches/"+id+"/runs", "")
		var e struct{ Error string }
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || json.Unmarshal([]byte(raw), &e) != nil || e.Error == "" {
			t.Fatalf("replica %d read while the slot was held elsewhere: %d %s", r+1, resp.StatusCode, raw)
		}
	}
	if again, _, _ := gate.Enter(context.Background(), e.ID); again != nil {
		t.Fatal("a second holder took the environment's one read slot")
	}
	release()
	for r, base := range bases {
		if resp, raw := do(http.MethodGet, base+"/api/v3/batches/"+id+"/runs", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("replica %d read after the slot was freed: %d %s", r+1, resp.StatusCode, raw)
		}
	}
}
