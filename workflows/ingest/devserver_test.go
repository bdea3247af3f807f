package ingest

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/internal/testenv"
)

// startDevServer starts a real Temporal dev server for the tests that need
// what the test suite cannot simulate (several events in one workflow
// task); dynamicConfig overrides its limits.
func startDevServer(t *testing.T, dynamicConfig ...string) client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Temporal dev server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	srv, err := testenv.StartTemporal(ctx, dir, "", dynamicConfig...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c := srv.Client()
	t.Cleanup(c.Close)
	return c
}

// newIngestWorker runs BatchIngest with the fake activities on queue.
func newIngestWorker(t *testing.T, c client.Client, queue string, f *fakeRuns) worker.Worker {
	t.Helper()
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(BatchIngest, workflow.RegisterOptions{Name: WorkflowName})
	w.RegisterActivityWithOptions(f.enqueue, activity.RegisterOptions{Name: ActivityOffloadAndEnqueue})
	w.RegisterActivityWithOptions(f.seal, activity.RegisterOptions{Name: ActivitySeal})
	w.RegisterActivityWithOptions(f.abort, activity.RegisterOptions{Name: ActivityAbort})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	return w
}

// A cancellation that reaches the workflow in the same workflow task as a
// chunk, while continue-as-new is suggested, must abort the batch, not
// continue as new and lose the cancellation with the run. The worker is
// stopped while the signal and the cancel request arrive, so both land in
// one task on every run of the test.
func TestDevServerCancelWithChunkWhileDraining(t *testing.T) {
	t.Parallel()
	// Suggest continue-as-new from the 12th event on.
	c := startDevServer(t, "limit.historyCount.suggestContinueAsNew=12")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newFakeRuns()
	queue := "cancel-drain"
	w := newIngestWorker(t, c, queue, f)
	in := input(30)
	in.BatchID = "batch_canceldrain"
	in.CreatedAt = time.Now()
	in.SealDeadline = in.CreatedAt.Add(time.Hour)
	opts := client.StartWorkflowOptions{ID: in.BatchID, TaskQueue: queue}
	if _, err := c.SignalWithStartWorkflow(ctx, in.BatchID, SignalItems, chunkOf(0, span(0, 5)...), opts, WorkflowName, in); err != nil {
		t.Fatal(err)
	}
	// Wait until that chunk is enqueued (a few events: below the threshold).
	for {
		if p, err := queryProgress(ctx, c, in.BatchID); err == nil && p.Enqueued == 5 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("first chunk never enqueued")
		case <-time.After(20 * time.Millisecond):
		}
	}
	w.Stop()
	if err := c.SignalWorkflow(ctx, in.BatchID, "", SignalItems, chunkOf(1, span(5, 10)...)); err != nil {
		t.Fatal(err)
	}
	if err := c.CancelWorkflow(ctx, in.BatchID, ""); err != nil {
		t.Fatal(err)
	}
	w2 := newIngestWorker(t, c, queue, f)
	defer w2.Stop()

	var r Result
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	err := c.GetWorkflow(wctx, in.BatchID, "").Get(wctx, &r)
	if err != nil {
		t.Fatalf("batch workflow did not end (the cancellation was lost): %v", err)
	}
	if r.State != StateAborted || r.Runs != 1 {
		t.Fatalf("result %+v: want ABORTED in the first run", r)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.aborted != "workflow canceled" {
		t.Fatalf("abort reason %q", f.aborted)
	}
}

func queryProgress(ctx context.Context, c client.Client, id string) (Progress, error) {
	var p Progress
	v, err := c.QueryWorkflow(ctx, id, "", QueryProgress)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}
