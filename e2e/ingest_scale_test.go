package e2e

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
)

// A batch of 200,000 tiny items (STREAMBATCH_SCALE_ITEMS overrides) seals
// with exactly N runs; continue-as-new keeps every run's history well under
// Temporal's limits. With the test's 100-item chunks that is 2,000 chunk
// signals and activities.
func TestLargeBatchContinuesAsNew(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("STREAMBATCH_SCALE_ITEMS")); err == nil && v > 0 {
		n = v
	}
	_, key := s.newKey(t)
	items := make([]item, n)
	for i := range items {
		items[i] = item{Index: i, Task: "tiny", Payload: "x"}
	}
	body := ndjson(items)
	id := s.mustCreate(t, key, n)
	start := time.Now()
	status, res, raw := s.stream(t, key, id, body)
	if status != http.StatusOK || res.ItemsAccepted != n {
		t.Fatalf("phase 2: %d %s", status, raw)
	}
	if !res.Sealed {
		// The wait ran out before the seal: a client re-sends; so do we.
		status, res, raw = s.stream(t, key, id, body)
		if status != http.StatusOK || !res.Sealed || res.ItemsDeduplicated != n {
			t.Fatalf("re-send: %d %s", status, raw)
		}
	}
	elapsed := time.Since(start)
	ctx := context.Background()
	set, err := s.app.Store.RunIndexes(ctx, id, n)
	if err != nil || !set.Full() {
		t.Fatalf("runs cover %d of %d indexes: %v", set.Len(), n, err)
	}
	if total, _, _ := s.app.Store.CountRuns(ctx, id); total != n {
		t.Fatalf("%d runs, want %d", total, n)
	}
	list, err := s.app.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: `WorkflowId="` + id + `"`})
	if err != nil {
		t.Fatal(err)
	}
	var largest, largestBytes int64
	for _, e := range list.Executions {
		largest = max(largest, e.HistoryLength)
		largestBytes = max(largestBytes, e.HistorySizeBytes)
	}
	t.Logf("%d items (%.1f MiB): sealed in %s (%.0f items/s); %d workflow runs; largest history %d events, %d bytes",
		n, float64(len(body))/(1<<20), elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), len(list.Executions), largest, largestBytes)
	if n >= 100_000 && len(list.Executions) < 2 {
		t.Fatalf("%d chunks in one run: continue-as-new never happened", n/s.cfg.ChunkItems)
	}
	if largest > 10_240 || largestBytes > 10<<20 {
		t.Fatalf("a run reached %d events / %d bytes: past Temporal's warning limits", largest, largestBytes)
	}
}
