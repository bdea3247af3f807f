package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
	"github.com/streambatch/streambatch/wire"
)

// Aborting a PENDING batch keeps the output of a run that completed before
// the abort (runs start before the seal): its large output, offloaded to
// item_<i>/output.json under the batch's packet prefix, is still what
// runs.retrieve hands out: the abort deletes the staging, not the packets
// runs hold.
func TestAbortKeepsFinishedRunsOutputs(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	env, key := s.newKey(t)
	size := s.cfg.OffloadThreshold + 10<<10 // offloaded to S3
	w := tasks.NewWorker(s.app.Temporal, env, "", sdkworker.Options{})
	tasks.Register(w, "bigout", func(ctx context.Context, in echoIn) (string, error) {
		return strings.Repeat("o", in.N), nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	// Two runs announced, one sent: the batch stays PENDING while run 0
	// executes and completes.
	id := s.mustCreate(t, key, 2)
	line := fmt.Sprintf(`{"index":0,"task":"bigout","payload":{"n":%d}}`+"\n", size)
	if code, res, raw := s.stream(t, key, id, []byte(line)); code != http.StatusOK || res.Sealed {
		t.Fatalf("stream: %d %s, want 200 and not sealed", code, raw)
	}
	outputKey := batch.OutputKey(env, id, 0)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		runs := s.runs(t, key, id)
		if len(runs) == 1 && runs[0].Status == "COMPLETED" {
			if deref(runs[0].OutputType) != batch.PayloadTypeStore || deref(runs[0].Output) != outputKey {
				t.Fatalf("run 0 output %s %s, want the offloaded %s", deref(runs[0].OutputType), deref(runs[0].Output), outputKey)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run 0 never completed: %+v", runs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if b := s.batchStatus(t, key, id); b.Status != "PENDING" {
		t.Fatalf("batch %s, want PENDING", b.Status)
	}

	var ab wire.BatchStatus
	resp := s.call(t, http.MethodPost, "/api/v3/batches/"+id+"/abort", key, stringsReader(`{"reason":"enough"}`), "application/json", &ab)
	if resp.StatusCode != http.StatusOK || ab.Status != "ABORTED" {
		t.Fatalf("abort: %d %s", resp.StatusCode, resp.Body)
	}
	// The ingest workflow (its Abort activity) has ended.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.app.Temporal.GetWorkflow(wctx, id, "").Get(wctx, nil); err != nil {
		t.Logf("ingest workflow ended with %v", err)
	}
	if wctx.Err() != nil {
		t.Fatal("the ingest workflow did not end within a minute of the abort")
	}

	// runs.retrieve hands out a presigned URL that serves the output.
	var run wire.TriggerDevRetrievedRun
	resp = s.call(t, http.MethodGet, "/api/v3/runs/"+batch.RunID(id, 0), key, nil, "", &run)
	if resp.StatusCode != http.StatusOK || run.Status != "COMPLETED" || run.OutputPresignedURL == "" {
		t.Fatalf("retrieve run 0: %d %.300s", resp.StatusCode, resp.Body)
	}
	got := send(t, http.DefaultClient, http.MethodGet, run.OutputPresignedURL, nil)
	want, _ := json.Marshal(strings.Repeat("o", size))
	if got.StatusCode != http.StatusOK || string(got.Body) != string(want) {
		t.Fatalf("output URL after the abort: %d, %d bytes (%.200s), want 200 and the %d-byte output", got.StatusCode, len(got.Body), got.Body, len(want))
	}
	if _, err := s.app.Blob.Get(ctx, outputKey, 4<<20); err != nil {
		t.Fatalf("the output object after the abort: %v", err)
	}
}
