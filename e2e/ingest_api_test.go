package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streambatch/streambatch/wire"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

func TestCreateBatchContract(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	resp, out := s.createBatch(t, key, map[string]any{"runCount": 3, "taskIdentifiers": []string{"a", "b"}, "idempotencyKey": "k1", "whatever": true})
	if resp.StatusCode != http.StatusAccepted || out.RunCount != 3 || out.IsCached || out.IdempotencyKey == nil || *out.IdempotencyKey != "k1" {
		t.Fatalf("create: %d %+v", resp.StatusCode, out)
	}
	t.Run("the public token reads only this batch, for an hour", func(t *testing.T) {
		tok, err := jwt.Parse(resp.Header.Get("x-trigger-jwt"), func(*jwt.Token) (any, error) { return []byte(s.cfg.JWTSecret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
		if err != nil {
			t.Fatal(err)
		}
		claims := tok.Claims.(jwt.MapClaims)
		exp, _ := claims.GetExpirationTime()
		if scopes, _ := claims["scopes"].([]any); len(scopes) != 1 || scopes[0] != "read:batch:"+out.ID || time.Until(exp.Time) > time.Hour || time.Until(exp.Time) < 50*time.Minute {
			t.Fatalf("token claims %v", claims)
		}
		if !strings.Contains(resp.Header.Get("x-trigger-jwt-claims"), `"pub":true`) {
			t.Fatalf("x-trigger-jwt-claims = %q", resp.Header.Get("x-trigger-jwt-claims"))
		}
	})
	t.Run("the same idempotency key answers the first batch, cached", func(t *testing.T) {
		// Without the key echoed.
		resp2, again := s.createBatch(t, key, map[string]any{"runCount": 3, "idempotencyKey": "k1"})
		if resp2.StatusCode != http.StatusOK || !again.IsCached || again.ID != out.ID || again.IdempotencyKey != nil || resp2.Header.Get("x-trigger-jwt") == "" {
			t.Fatalf("repeat: %d %+v", resp2.StatusCode, again)
		}
	})
	t.Run("another environment with the same key gets its own batch", func(t *testing.T) {
		_, other := s.newKey(t)
		resp3, third := s.createBatch(t, other, map[string]any{"runCount": 3, "idempotencyKey": "k1"})
		if resp3.StatusCode != http.StatusAccepted || third.ID == out.ID {
			t.Fatalf("other env: %d %+v", resp3.StatusCode, third)
		}
	})
}

func TestCreateBatchRefusesBadRequests(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	cases := []struct {
		name, key, body string
		status          int
		contains        string
	}{
		{"no key", "", `{"runCount":1}`, 401, "API key"},
		{"wrong key", "sb_nope", `{"runCount":1}`, 401, "Invalid API key"},
		{"empty body", key, ``, 400, "Request body is empty"},
		{"invalid JSON", key, `{"runCount":`, 400, "Invalid JSON"},
		{"array", key, `[1]`, 400, "JSON object"},
		{"runCount missing", key, `{}`, 400, "runCount is required"},
		{"runCount zero", key, `{"runCount":0}`, 400, "positive integer"},
		{"runCount negative", key, `{"runCount":-5}`, 400, "positive integer"},
		{"runCount float", key, `{"runCount":1.5}`, 400, "positive integer"},
		{"runCount string", key, `{"runCount":"5"}`, 400, "positive integer"},
		{"runCount too big", key, `{"runCount":1000001}`, 400, "exceeds maximum allowed of 1000000"},
		{"idempotencyKey too long", key, `{"runCount":1,"idempotencyKey":"` + strings.Repeat("k", 2049) + `"}`, 400, "2048"},
		{"taskIdentifiers empty", key, `{"runCount":1,"taskIdentifiers":[]}`, 400, "taskIdentifiers"},
		{"idempotencyKeyOptions scope", key, `{"runCount":1,"idempotencyKeyOptions":{"key":"a","scope":"forever"}}`, 400, "scope"},
		{"body over 128 KiB", key, `{"runCount":1,"pad":"` + strings.Repeat("p", 128<<10) + `"}`, 413, "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out createResp
			resp := s.call(t, http.MethodPost, "/api/v3/batches", tc.key, strings.NewReader(tc.body), "application/json", &out)
			if resp.StatusCode != tc.status || !strings.Contains(out.Error, tc.contains) {
				t.Fatalf("%d %s; want %d containing %q", resp.StatusCode, resp.Body, tc.status, tc.contains)
			}
		})
	}
}

func TestStreamItemsRefusesBadRequests(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	_, otherKey := s.newKey(t)
	id := s.mustCreate(t, key, 3)
	foreign := s.mustCreate(t, otherKey, 3)
	line := `{"index":0,"task":"t"}` + "\n"
	cases := []struct {
		name, key, batch, contentType, encoding, body string
		status                                        int
		contains                                      string
	}{
		{"wrong content type is checked before auth", "", id, "application/json", "", line, 415, "application/x-ndjson"},
		{"no content type", key, id, "", "", line, 415, "Content-Type"},
		{"gzip", key, id, "application/x-ndjson", "gzip", line, 415, "Content-Encoding"},
		{"no key", "", id, "application/x-ndjson", "", line, 401, "API key"},
		{"unknown batch", key, "batch_aaaaaaaaaaaaaaaaaaaaaaaa", "application/x-ndjson", "", line, 422, "not found"},
		{"malformed batch id", key, "batch_..", "application/x-ndjson", "", line, 422, "not found"},
		{"encoded slashes leave the route", key, "batch_..%2F..%2Fx", "application/x-ndjson", "", line, 404, "Not found"},
		{"SQL in batch id", key, "batch_'%3B%20drop%20table%20runs--", "application/x-ndjson", "", line, 422, "not found"},
		{"another environment's batch", key, foreign, "application/ndjson", "", line, 422, "not found"},
		{"invalid JSON", key, id, "application/x-ndjson", "", line + "{\"index\":1,\n", 400, "Invalid JSON at line 2"},
		{"index out of range", key, id, "application/x-ndjson", "", `{"index":3,"task":"t"}`, 422, "out of range"},
		{"task missing", key, id, "application/x-ndjson", "", `{"index":1}`, 422, "task is required"},
		{"options mistyped", key, id, "application/x-ndjson", "", `{"index":1,"task":"t","options":{"maxAttempts":"x"}}`, 422, "options.maxAttempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := send(t, http.DefaultClient, http.MethodPost, s.URL+itemsPath(tc.batch), strings.NewReader(tc.body), withKey(tc.key, tc.contentType), func(r *http.Request) {
				if tc.encoding != "" {
					r.Header.Set("Content-Encoding", tc.encoding)
				}
			})
			raw := resp.Body
			if resp.StatusCode != tc.status || !strings.Contains(string(raw), tc.contains) || !strings.HasPrefix(string(raw), `{"error":`) {
				t.Fatalf("%d %s; want %d containing %q", resp.StatusCode, raw, tc.status, tc.contains)
			}
		})
	}
	// Content-Length: 0 is no body at all.
	if resp := s.call(t, http.MethodPost, itemsPath(id), key, http.NoBody, "application/x-ndjson", nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty body: %d", resp.StatusCode)
	}
	// GET on the items route is not allowed.
	if resp := s.call(t, http.MethodGet, "/api/v3/batches/"+id+"/items", key, nil, "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET items: %d", resp.StatusCode)
	}
	// Nothing of the refused requests became a run.
	if b := s.batchStatus(t, key, id); b.EnqueuedCount != 0 || b.Status != "PENDING" {
		t.Fatalf("batch after refused requests: %+v", b)
	}
}

// A sealed batch answers sealed:true with zero counts without reading the
// body (trigger.dev cases 1–3).
func TestSealedBatchShortCircuits(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	id := s.mustCreate(t, key, 5)
	if status, res, raw := s.stream(t, key, id, ndjson(simpleItems(5))); status != 200 || !res.Sealed {
		t.Fatalf("%d %s", status, raw)
	}
	status, res, raw := s.stream(t, key, id, []byte("this is not NDJSON and is never read\n"))
	if status != 200 || !res.Sealed || res.ItemsAccepted != 0 || res.ItemsDeduplicated != 0 || res.RunCount != 5 {
		t.Fatalf("%d %s", status, raw)
	}
}

// Items delivered by a request that did not see the seal (its wait ran
// out), then an empty stream: the empty stream reports the seal (case 1).
func TestEmptyStreamAfterAllItemsSeals(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	cfg := s.cfg
	cfg.SealWait = 0
	other := s.withConfig(t, cfg)
	id := other.mustCreate(t, key, 50)
	// Without a seal wait every item is durably accepted: sealed:true.
	status, first, raw := other.stream(t, key, id, ndjson(simpleItems(50)))
	if status != 200 || first.ItemsAccepted != 50 || !first.Sealed {
		t.Fatalf("%d %s", status, raw)
	}
	status, res, raw := s.stream(t, key, id, nil)
	if status != 200 || !res.Sealed || res.ItemsAccepted != 0 {
		t.Fatalf("empty stream: %d %s", status, raw)
	}
	// The workflow seals it (every run exists) shortly after.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b := s.batchStatus(t, key, id)
		if b.Sealed && b.Status == "PROCESSING" && b.SealedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("row %+v", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An aborted batch refuses items with 422 (cases 4–5), and its runs are
// canceled.
func TestAbortedBatchRefusesItems(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	id := s.mustCreate(t, key, 10)
	if status, res, raw := s.stream(t, key, id, ndjson(simpleItems(10)[:4])); status != 200 || res.Sealed {
		t.Fatalf("%d %s", status, raw)
	}
	waitRuns(t, s, id, 4)
	wf := ingestwf.NewClient(s.app.Temporal, s.cfg.TaskQueue)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := wf.Abort(ctx, id, "test abort"); err != nil {
		t.Fatal(err)
	}
	r, err := wf.Wait(ctx, id)
	if err != nil || r.State != ingestwf.StateAborted || r.Reason != "test abort" {
		t.Fatalf("result %+v %v", r, err)
	}
	status, _, raw := s.stream(t, key, id, ndjson(simpleItems(10)))
	if status != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "not in PENDING status (current: ABORTED)") {
		t.Fatalf("%d %s", status, raw)
	}
	for _, r := range s.runs(t, key, id) {
		if r.Status != "CANCELED" {
			t.Fatalf("run %d is %s", r.Index, r.Status)
		}
	}
	if b := s.batchStatus(t, key, id); b.Status != "ABORTED" || b.Sealed {
		t.Fatalf("batch %+v", b)
	}
}

// Concurrent streams of the same batch create every run exactly once
// (case 19, with two requests at once).
func TestConcurrentStreamsOfOneBatch(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	const n = 2000
	id := s.mustCreate(t, key, n)
	body := ndjson(simpleItems(n))
	var wg sync.WaitGroup
	results := make([]streamResp, 3)
	for k := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, res, raw := s.stream(t, key, id, body)
			if status != 200 {
				t.Errorf("stream %d: %d %s", k, status, raw)
			}
			results[k] = res
		}()
	}
	wg.Wait()
	sealed := false
	for _, r := range results {
		sealed = sealed || r.Sealed
	}
	if !sealed {
		t.Fatalf("no stream saw the seal: %+v", results)
	}
	if got := len(s.runs(t, key, id)); got != n {
		t.Fatalf("%d runs, want %d", got, n)
	}
}

func TestStatusEndpoints(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	_, other := s.newKey(t)
	id := s.mustCreate(t, key, 250)
	s.stream(t, key, id, ndjson(simpleItems(250)))
	t.Run("runs page from a cursor", func(t *testing.T) {
		var page wire.RunsPage
		resp := s.call(t, http.MethodGet, "/api/v3/batches/"+id+"/runs?limit=100&cursor=99", key, nil, "", &page)
		if resp.StatusCode != 200 || len(page.Data) != 100 || page.Data[0].Index != 100 || page.NextCursor == nil || *page.NextCursor != "199" {
			t.Fatalf("page: %d, %d runs, next %v", resp.StatusCode, len(page.Data), page.NextCursor)
		}
	})
	t.Run("the last page has no next cursor", func(t *testing.T) {
		var page wire.RunsPage
		resp := s.call(t, http.MethodGet, "/api/v3/batches/"+id+"/runs?limit=100&cursor=199", key, nil, "", &page)
		if resp.StatusCode != 200 || len(page.Data) != 50 || page.Data[49].Index != 249 || page.NextCursor != nil || bytes.Contains(resp.Body, []byte("nextCursor")) {
			t.Fatalf("last page: %d, %d runs, next %v", resp.StatusCode, len(page.Data), page.NextCursor)
		}
	})
	t.Run("another environment's or an unknown batch is not found", func(t *testing.T) {
		for _, tc := range []struct{ path, key string }{
			{"/api/v3/batches/" + id, other},
			{"/api/v3/batches/" + id + "/runs", other},
			{"/api/v3/batches/batch_zzzzzzzzzzzzzzzzzzzzzzzz", key},
		} {
			if resp := s.call(t, http.MethodGet, tc.path, tc.key, nil, "", nil); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("%s: %d, want 404", tc.path, resp.StatusCode)
			}
		}
	})
	t.Run("bad page parameters are refused", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=-3", "cursor=abc"} {
			if resp := s.call(t, http.MethodGet, "/api/v3/batches/"+id+"/runs?"+q, key, nil, "", nil); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s: %d, want 400", q, resp.StatusCode)
			}
		}
	})
	t.Run("no key is refused", func(t *testing.T) {
		if resp := s.call(t, http.MethodGet, "/api/v3/batches/"+id, "", nil, "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no key: %d", resp.StatusCode)
		}
	})
	t.Run("health and readiness answer without a key", func(t *testing.T) {
		var health struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		if resp := s.call(t, http.MethodGet, "/readyz", "", nil, "", &health); resp.StatusCode != 200 || len(health.Checks) != 3 {
			t.Fatalf("readyz: %d %s", resp.StatusCode, resp.Body)
		}
		if resp := s.call(t, http.MethodGet, "/healthz", "", nil, "", nil); resp.StatusCode != 200 {
			t.Fatalf("healthz: %d", resp.StatusCode)
		}
	})
}

// POST /abort: a PENDING batch ends ABORTED with its queued runs CANCELED
// and refuses items; aborting again changes nothing; a sealed batch cannot
// be aborted; another environment's batch is not found.
func TestAbortEndpoint(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	_, other := s.newKey(t)
	id := s.mustCreate(t, key, 10)
	if status, _, raw := s.stream(t, key, id, ndjson(simpleItems(10)[:6])); status != 200 {
		t.Fatalf("%d %s", status, raw)
	}
	waitRuns(t, s, id, 6)
	abort := func(t *testing.T, k, batchID, body string) (int, wire.BatchStatus, string) {
		var b wire.BatchStatus
		resp := s.call(t, http.MethodPost, "/api/v3/batches/"+batchID+"/abort", k, strings.NewReader(body), "application/json", nil)
		_ = json.Unmarshal(resp.Body, &b)
		return resp.StatusCode, b, string(resp.Body)
	}
	step(t, "another environment's batch is not found", func(t *testing.T) {
		if status, _, raw := abort(t, other, id, ""); status != http.StatusNotFound {
			t.Fatalf("foreign abort: %d %s", status, raw)
		}
	})
	step(t, "a bad body is refused", func(t *testing.T) {
		if status, _, raw := abort(t, key, id, `{"reason": 5}`); status != http.StatusBadRequest {
			t.Fatalf("bad body: %d %s", status, raw)
		}
	})
	step(t, "the abort cancels the queued runs with its reason", func(t *testing.T) {
		status, b, raw := abort(t, key, id, `{"reason":"customer cancelled"}`)
		if status != http.StatusOK || b.Status != "ABORTED" || b.EnqueuedCount != 6 {
			t.Fatalf("abort: %d %s", status, raw)
		}
		if !strings.Contains(raw, `"abortReason":"customer cancelled"`) {
			t.Fatalf("abort reason missing: %s", raw)
		}
		for _, r := range s.runs(t, key, id) {
			if r.Status != "CANCELED" {
				t.Fatalf("run %d is %s", r.Index, r.Status)
			}
		}
		recordHistory(t, s, id, "batch_ingest_abort")
	})
	step(t, "aborting again changes nothing", func(t *testing.T) {
		if status, _, raw := abort(t, key, id, ""); status != http.StatusOK {
			t.Fatalf("second abort: %d %s", status, raw)
		}
	})
	step(t, "the aborted batch refuses items", func(t *testing.T) {
		if status, _, raw := s.stream(t, key, id, ndjson(simpleItems(10))); status != http.StatusUnprocessableEntity {
			t.Fatalf("items after abort: %d %s", status, raw)
		}
		if got := len(s.runs(t, key, id)); got != 6 {
			t.Fatalf("%d runs after the refused stream", got)
		}
	})
	step(t, "a sealed batch's unexecuted runs are cancelled", func(t *testing.T) {
		sealed := s.mustCreate(t, key, 2)
		s.stream(t, key, sealed, ndjson(simpleItems(2)))
		if status, b, raw := abort(t, key, sealed, ""); status != http.StatusOK || b.Status != "ABORTED" || b.RunCounts["CANCELED"] != 2 {
			t.Fatalf("abort sealed: %d %s", status, raw)
		}
	})
}

// waitRuns waits until a batch has n runs.
func waitRuns(t *testing.T, s *stack, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		total, _, err := s.app.Store.CountRuns(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if total == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs after 30 s, want %d", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Batch creation is rate limited per environment: 429 with Retry-After and
// the X-RateLimit headers; another environment is not affected.
func TestCreateRateLimit(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	cfg := s.cfg
	// The bucket counts runs: 100 runs/s, 1,000 at once.
	cfg.CreateRate, cfg.CreateBurst = 100, 1000
	limited := s.withConfig(t, cfg)
	_, key := s.newKey(t)
	_, other := s.newKey(t)
	// Many small batches and one that fills the rest of the bucket pass.
	for range 20 {
		if resp, out := limited.createBatch(t, key, map[string]any{"runCount": 10}); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("small batch within the burst: %d %+v", resp.StatusCode, out)
		}
	}
	if resp, out := limited.createBatch(t, key, map[string]any{"runCount": 790}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the rest of the burst: %d %+v", resp.StatusCode, out)
	}
	resp, out := limited.createBatch(t, key, map[string]any{"runCount": 500})
	ms, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(out.Error, "rate limit") ||
		resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-RateLimit-Limit") != "1000" ||
		ms < time.Now().UnixMilli() || ms > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatalf("over the limit: %d %+v %v", resp.StatusCode, out, resp.Header)
	}
	if resp, _ := limited.createBatch(t, other, map[string]any{"runCount": 1}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("another environment was limited: %d", resp.StatusCode)
	}
}

// A Phase 2 body that stalls longer than the idle timeout ends with 408,
// and what it sent before the stall is not half-accepted.
func TestStalledBodyTimesOut(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	cfg := s.cfg
	cfg.BodyIdleTimeout = 500 * time.Millisecond
	impatient := s.withConfig(t, cfg)
	_, key := s.newKey(t)
	id := impatient.mustCreate(t, key, 3)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"index":0,"task":"t"}` + "\n"))
		time.Sleep(2 * time.Second)
		pw.Close()
	}()
	var out streamResp
	resp := impatient.call(t, http.MethodPost, "/api/v3/batches/"+id+"/items", key, pr, "application/x-ndjson", nil)
	_ = json.Unmarshal(resp.Body, &out)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(out.Error, "sent nothing") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if b := s.batchStatus(t, key, id); b.EnqueuedCount != 0 {
		t.Fatalf("runs from a timed-out stream: %+v", b)
	}
}
