package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
)

// The acceptance test of the core path: a 1,000-item batch with small,
// offloaded and oversized items seals with exactly 1,000 runs whose
// payloads are intact, and a re-sent stream changes nothing.
func TestMixedBatchSealsWithExactRuns(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	testMixedBatch(t, s)
}

func testMixedBatch(t *testing.T, s *stack) {
	env, key := s.newKey(t)
	const n = 1000
	items := make([]item, n)
	want := map[int]string{} // index → payload text sent
	large := map[int]bool{}
	oversized := map[int]bool{}
	for i := range items {
		switch {
		case i%200 == 199: // 5 lines of 3.5 MiB: over the 3 MiB item limit
			items[i] = item{Index: i, Task: "big", Payload: randomText(uint64(i), 3584<<10)}
			oversized[i] = true
		case i%10 == 3 && len(large) < 95: // 95 payloads of ~600 KiB: offloaded
			p := randomText(uint64(i), 600<<10+i)
			items[i] = item{Index: i, Task: "render", Payload: p, Options: map[string]any{"payloadType": "text/plain", "tags": []string{"large"}}}
			want[i], large[i] = p, true
		default:
			p := fmt.Sprintf(`{"json":{"user":%d,"note":"héllo ✓"}}`, i)
			items[i] = item{Index: i, Task: "email", Payload: p, Options: map[string]any{"payloadType": "application/super+json", "queue": map[string]any{"name": "q"}, "unknownKey": 1}}
			want[i] = p
		}
	}
	if len(large) != 95 || len(oversized) != 5 {
		t.Fatalf("test data: %d large, %d oversized", len(large), len(oversized))
	}
	body := ndjson(items)
	id := s.mustCreate(t, key, n)

	start := time.Now()
	status, res, raw := s.stream(t, key, id, body)
	elapsed := time.Since(start)
	if status != http.StatusOK || !res.Sealed || res.ItemsAccepted != n || res.ItemsDeduplicated != 0 || res.EnqueuedCount != nil {
		t.Fatalf("phase 2: %d %s", status, raw)
	}
	desc, err := s.app.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1,000 items (%.0f MiB body): phase 2 to sealed:true in %s; workflow history %d events, %d bytes",
		float64(len(body))/(1<<20), elapsed.Round(time.Millisecond), desc.WorkflowExecutionInfo.HistoryLength, desc.WorkflowExecutionInfo.HistorySizeBytes)

	recordHistory(t, s, id, "batch_ingest_1000_v1")
	runs := s.runs(t, key, id)
	if len(runs) != n {
		t.Fatalf("%d runs, want %d", len(runs), n)
	}
	var failed, stored, inline int
	for k, r := range runs {
		if r.Index != k {
			t.Fatalf("run %d has index %d: not ordered by index or duplicated", k, r.Index)
		}
		switch {
		case oversized[r.Index]:
			failed++
			if r.Status != "FAILED" || r.Error == nil || r.Error.Code != batch.ErrorPayloadTooLarge || r.Task != "big" {
				t.Fatalf("oversized run %d: %+v", r.Index, r)
			}
		case large[r.Index]:
			stored++
			if r.Status != "QUEUED" || r.PayloadType != batch.PayloadTypeStore || r.Payload == nil {
				t.Fatalf("large run %d: %+v", r.Index, r)
			}
			if !isPacketOf(*r.Payload, env, id, r.Index) {
				t.Fatalf("run %d payload key %q, want a packet of item %d", r.Index, *r.Payload, r.Index)
			}
			obj, err := s.app.Blob.Get(context.Background(), *r.Payload, 4<<20)
			if err != nil {
				t.Fatal(err)
			}
			if sha(string(obj)) != sha(want[r.Index]) {
				t.Fatalf("object of run %d: %d bytes, sha256 differs from the %d bytes sent", r.Index, len(obj), len(want[r.Index]))
			}
		default:
			inline++
			if r.Status != "QUEUED" || r.Payload == nil || *r.Payload != want[r.Index] || r.PayloadType != "application/super+json" {
				t.Fatalf("inline run %d: %+v", r.Index, r)
			}
		}
	}
	if failed != 5 || stored != 95 || inline != 900 {
		t.Fatalf("failed %d, stored %d, inline %d", failed, stored, inline)
	}
	if keys, _ := s.app.Blob.List(context.Background(), batch.PacketPrefix(env)); len(keys) != 95 {
		t.Fatalf("%d packet objects, want 95 (no duplicates, no strays)", len(keys))
	}
	if keys, _ := s.app.Blob.List(context.Background(), batch.StagingPrefix(env, id)); len(keys) != 0 {
		t.Fatalf("staged chunks left after the seal: %v", keys)
	}
	b := s.batchStatus(t, key, id)
	if b.Status != "PROCESSING" || !b.Sealed || b.EnqueuedCount != n || b.FailedCount != 5 || b.SealedAt == nil || b.WorkflowID != id {
		t.Fatalf("batch status %+v", b)
	}

	// The same stream again: the batch is sealed, nothing changes.
	status, res, raw = s.stream(t, key, id, body)
	if status != http.StatusOK || !res.Sealed || res.ItemsAccepted != 0 || res.ItemsDeduplicated != 0 {
		t.Fatalf("re-send: %d %s", status, raw)
	}
	if got := len(s.runs(t, key, id)); got != n {
		t.Fatalf("%d runs after the re-send", got)
	}
}

// A first half, then the whole stream: the second request accepts only the
// missing half and seals.
func TestHalfThenWholeStream(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	const n = 1000
	items := simpleItems(n)
	id := s.mustCreate(t, key, n)

	status, res, raw := s.stream(t, key, id, ndjson(items[:500]))
	if status != http.StatusOK || res.Sealed || res.ItemsAccepted != 500 || res.ItemsDeduplicated != 0 ||
		res.EnqueuedCount == nil || *res.EnqueuedCount != 500 || res.ExpectedCount == nil || *res.ExpectedCount != n {
		t.Fatalf("first half: %d %s", status, raw)
	}
	if strings.Contains(string(raw), "null") {
		t.Fatalf("optional fields must be omitted, not null: %s", raw)
	}
	status, res, raw = s.stream(t, key, id, ndjson(items))
	if status != http.StatusOK || !res.Sealed || res.ItemsAccepted != 500 || res.ItemsDeduplicated != 500 || res.EnqueuedCount != nil {
		t.Fatalf("whole stream: %d %s", status, raw)
	}
	if strings.Contains(string(raw), "enqueuedCount") {
		t.Fatalf("a sealed answer carries no counts: %s", raw)
	}
	if got := len(s.runs(t, key, id)); got != n {
		t.Fatalf("%d runs, want %d", got, n)
	}
}

// recordHistory writes the history of the workflow's latest run to
// $STREAMBATCH_RECORD_HISTORY/<name>.json when that variable names a folder
// (copied into workflows/ingest/testdata or workflows/runs/testdata: each
// flow's replay test replays every history there, so a workflow change that
// would break running workflows fails CI).
func recordHistory(t *testing.T, s *stack, workflowID, name string) {
	t.Helper()
	dir := os.Getenv("STREAMBATCH_RECORD_HISTORY")
	if dir == "" || s.cluster { // the recorded histories come from the dev server
		return
	}
	path := filepath.Join(dir, name+".json")
	hist := &historypb.History{}
	it := s.app.Temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	raw, err := protojson.MarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("history of %s (%d events) written to %s", workflowID, len(hist.Events), path)
}

// failingQueries is a Temporal client whose workflow queries fail, as they
// do when no worker answers in time (a loaded machine, a worker outage).
type failingQueries struct{ client.Client }

func (failingQueries) QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	return nil, errors.New("query refused by the test")
}

// The counts of a re-sent stream are exact even when no run exists yet (no
// worker serves the batch's task queue): the first half's chunks are
// recorded when they are signalled, so the whole stream after it counts
// 500 new and 500 deduplicated, and, every item being durably accepted,
// sealed:true (so the SDK does not retry).
func TestHalfThenWholeStreamWithoutWorker(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	cfg := s.cfg
	cfg.TaskQueue = "no-worker-" + batch.NewStreamID()
	cfg.SealWait = time.Second
	ns := s.withApp(t, &app.App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Store: s.app.Store, Blob: s.app.Blob, Temporal: failingQueries{s.app.Temporal}})
	_, key := s.newKey(t)
	const n = 1000
	items := simpleItems(n)
	id := ns.mustCreate(t, key, n)
	status, res, raw := ns.stream(t, key, id, ndjson(items[:500]))
	if status != http.StatusOK || res.ItemsAccepted != 500 || res.Sealed {
		t.Fatalf("first half: %d %s", status, raw)
	}
	// Every index is now durably accepted: with no worker to seal, the
	// answer after the seal wait is still sealed:true, and GET
	// says so while the batch is PENDING without runs.
	status, res, raw = ns.stream(t, key, id, ndjson(items))
	if status != http.StatusOK || res.ItemsAccepted != 500 || res.ItemsDeduplicated != 500 || !res.Sealed {
		t.Fatalf("whole stream: %d %s", status, raw)
	}
	if got := len(s.runs(t, key, id)); got != 0 {
		t.Fatalf("%d runs without a worker", got)
	}
	if b := ns.batchStatus(t, key, id); !b.Sealed || b.Status != "PENDING" {
		t.Fatalf("GET after an accepted stream: %+v", b)
	}
	// A re-send is answered sealed without reading the body.
	if status, res, raw := ns.stream(t, key, id, ndjson(items)); status != http.StatusOK || !res.Sealed || res.ItemsAccepted != 0 {
		t.Fatalf("re-send: %d %s", status, raw)
	}
}

// A small batch that fits in its signal (10 items of 1 KiB) is enqueued
// and sealed inside the workflow task that received it: local activities,
// no activity dispatch but its runs' (the workflow executes them itself),
// nothing staged in S3.
func TestSmallBatchStaysInItsSignal(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	_, key := s.newKey(t)
	const n = 10
	items := make([]item, n)
	for i := range items {
		items[i] = item{Index: i, Task: "email", Payload: randomText(uint64(i), 1<<10)}
	}
	id := s.mustCreate(t, key, n)
	status, res, raw := s.stream(t, key, id, ndjson(items))
	if status != http.StatusOK || !res.Sealed {
		t.Fatalf("stream: %d %s", status, raw)
	}
	if got := len(s.runs(t, key, id)); got != n {
		t.Fatalf("%d runs, want %d", got, n)
	}
	// The answer may come as the seal commits, before the workflow task
	// that ran it is written to the history: read it until it is.
	var events, markers int
	var scheduled []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		events, markers, scheduled = 0, 0, nil
		it := s.app.Temporal.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			events++
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() != "email" {
				scheduled = append(scheduled, a.GetActivityType().GetName()) // not a run's: the workflow executes those too
			}
			if a := ev.GetMarkerRecordedEventAttributes(); a != nil && a.GetMarkerName() == "LocalActivity" {
				markers++
			}
			if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && strings.Contains(a.GetInput().String(), `\"key\"`) {
				t.Fatalf("the chunk was staged in S3: %s", a.GetInput())
			}
		}
		if markers >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(scheduled) != 0 || markers < 2 {
		t.Fatalf("activities %v and %d local activity markers: want the enqueue and the seal as local activities", scheduled, markers)
	}
	t.Logf("10-item batch: workflow history %d events", events)
	recordHistory(t, s, id, "batch_ingest_small")
}
