package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/testenv"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// A small batch whose BatchIngest, executing its runs, is told by the
// server to continue as new hands the rest to BatchRuns instead: every run
// executes once, the batch completes, BatchIngest's result says handed
// over and BatchRuns finished the batch. A Temporal dev server of its own
// suggests continue-as-new after 100 events (the shared one after 4K),
// and a window of 10 leaves runs to hand over when it does.
func TestSmallBatchHandsOverToBatchRuns(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dev, err := testenv.StartTemporal(ctx, t.TempDir(), "", "limit.historyCount.suggestContinueAsNew=100")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Stop() })
	cfg := s.config("handover-" + batch.NewStreamID())
	cfg.TemporalAddress = dev.FrontendHostPort()
	cfg.RunConcurrency = 10 // runs remain to hand over when the suggestion comes
	a, err := app.Open(ctx, cfg, config.NeedDatabase|config.NeedS3|config.NeedTemporal|config.NeedJWT, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	w := a.Worker()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	hs := s.withApp(t, a)
	hs.app = a
	env, key := hs.newKey(t)
	tw := startTaskWorker(t, hs, env)

	const n = 100 // the largest small batch, in one chunk (the stack's ChunkItems)
	id := hs.mustTrigger(t, key, n, func(i int) string { return fmt.Sprintf(`{"index":%d,"task":"echo","payload":{"n":%d}}`, i, i) })
	b := hs.waitBatch(t, key, id, 2*time.Minute)
	if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n {
		t.Fatalf("batch %+v", b)
	}
	for _, r := range hs.runs(t, key, id) {
		if tw.executions(r.ID) != 1 {
			t.Fatalf("run %d executed %d times, want once", r.Index, tw.executions(r.ID))
		}
	}
	var res ingestwf.Result
	if err := a.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Executed == nil || !res.Executed.HandedOver {
		t.Fatalf("BatchIngest's result %+v (executed %+v), want handed over", res, res.Executed)
	}
	var rr runswf.Result
	if err := a.Temporal.GetWorkflow(ctx, runswf.WorkflowID(id), "").Get(ctx, &rr); err != nil || rr.Status != "COMPLETED" {
		t.Fatalf("BatchRuns %+v, %v; want it to have completed the batch", rr, err)
	}
	recordHistory(t, hs, id, "batch_ingest_runs_here_handover")
}
