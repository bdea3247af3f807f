package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// /metrics exposes streambatch's own metrics and the Temporal SDK's.
func TestMetricsEndpoint(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	id := s.mustCreate(t, key, 20)
	if status, res, raw := s.stream(t, key, id, ndjson(simpleItems(20))); status != 200 || !res.Sealed {
		t.Fatalf("%d %s", status, raw)
	}
	resp := s.call(t, http.MethodGet, "/metrics", "", nil, "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	body := string(resp.Body)
	for _, want := range []string{
		`streambatch_ingest_items_total{outcome="accepted"}`,
		`streambatch_ingest_body_bytes_total`,
		`streambatch_chunk_stage_seconds_count{stage="signal"}`,
		`streambatch_signal_seconds_count`,
		`streambatch_phase2_requests_total{result="sealed"}`,
		`streambatch_activity_seconds_count{activity="OffloadAndEnqueue"}`,
		`streambatch_activity_seconds_count{activity="Seal"}`,
		`streambatch_http_requests_total{code="202",route="/api/v3/batches"}`,
		`streambatch_batches{state="PROCESSING"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^temporal_\w+`).MatchString(body) {
		t.Error("/metrics has no Temporal SDK metric")
	}
	if strings.Contains(body, key) {
		t.Error("/metrics shows an API key")
	}
}
