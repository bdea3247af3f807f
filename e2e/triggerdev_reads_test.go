package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/streambatch/streambatch/wire"
)

// TestRunsPagesCutByBytes: against the real stack, GET /api/v3/batches/:id
// /runs?limit=1000 of 40 runs with 300 KB payloads comes in pages cut by
// the 4 MiB byte budget (not one 12 MB page); nextCursor continues after
// the last run of each page, and every run comes exactly once, unchanged.
// Before the budget, one page held all 40 runs.
func TestRunsPagesCutByBytes(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	const n, size, budget = 40, 300_000, 4 << 20
	items := make([]item, n)
	for i := range items {
		items[i] = item{Index: i, Task: "big", Payload: randomText(uint64(i), size)}
	}
	id := s.mustCreate(t, key, n)
	if status, res, raw := s.stream(t, key, id, ndjson(items)); status != http.StatusOK || !res.Sealed {
		t.Fatalf("stream: %d %s", status, raw)
	}
	next, pages := -1, 0
	cursor := ""
	for {
		pages++
		if pages > n+1 {
			t.Fatal("the pages never end")
		}
		path := "/api/v3/batches/" + id + "/runs?limit=1000"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page wire.RunsPage
		resp := s.call(t, http.MethodGet, path, key, nil, "", &page)
		if resp.StatusCode != http.StatusOK || len(page.Data) == 0 {
			t.Fatalf("page %d: %d, %d runs", pages, resp.StatusCode, len(page.Data))
		}
		if len(page.Data) > 1 && len(resp.Body) > budget+64<<10 {
			t.Fatalf("page %d: %d runs in %d bytes, over the %d byte budget", pages, len(page.Data), len(resp.Body), budget)
		}
		for _, r := range page.Data {
			if r.Index != next+1 {
				t.Fatalf("page %d: run %d after %d: lost or repeated", pages, r.Index, next)
			}
			// A string payload is stored as its text.
			want := items[r.Index].Payload.(string)
			if r.Payload == nil || *r.Payload != want {
				t.Fatalf("run %d: payload changed: %.80q… (%d bytes), sent %.80q… (%d bytes)", r.Index, deref(r.Payload), len(deref(r.Payload)), want, len(want))
			}
			next = r.Index
		}
		if page.NextCursor == nil {
			break
		}
		if *page.NextCursor != fmt.Sprint(next) {
			t.Fatalf("page %d: nextCursor %s, want %d", pages, *page.NextCursor, next)
		}
		cursor = *page.NextCursor
	}
	if next != n-1 || pages < 3 {
		t.Fatalf("%d pages ending at run %d of %d", pages, next, n)
	}
}

// TestRetrieveBatchStreamsProcessingErrors: GET /api/v2/batches/:id writes
// processing.errors as its rows come, then the run ids; an item over the
// line limit is one error at its index; v1 has no processing member.
func TestRetrieveBatchStreamsProcessingErrors(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	items := []item{{Index: 0, Task: "t", Payload: "a"}, {Index: 1, Task: "t", Payload: strings.Repeat("x", 3<<20+10)}, {Index: 2, Task: "t", Payload: "c"}}
	id := s.mustCreate(t, key, 3)
	if status, res, raw := s.stream(t, key, id, ndjson(items)); status != http.StatusOK || !res.Sealed {
		t.Fatalf("stream: %d %s", status, raw)
	}
	var v2 wire.TriggerDevBatch
	resp := s.call(t, http.MethodGet, "/api/v2/batches/"+id, key, nil, "", &v2)
	if resp.StatusCode != http.StatusOK || v2.ID != id || len(v2.Runs) != 3 || v2.Processing == nil || v2.Processing.CompletedAt == nil ||
		len(v2.Processing.Errors) != 1 || v2.Processing.Errors[0].Index != 1 || v2.Processing.Errors[0].ErrorCode != "PAYLOAD_TOO_LARGE" {
		t.Fatalf("v2: %d %s", resp.StatusCode, resp.Body)
	}
	v2.Processing, v2.Runs = nil, nil
	resp = s.call(t, http.MethodGet, "/api/v1/batches/"+id, key, nil, "", &v2)
	if resp.StatusCode != http.StatusOK || len(v2.Runs) != 3 || v2.Processing != nil {
		t.Fatalf("v1: %d %s", resp.StatusCode, resp.Body)
	}
}
