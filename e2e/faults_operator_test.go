package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/app"
	"github.com/streambatch/streambatch/internal/blob"
	"github.com/streambatch/streambatch/internal/testenv"
	ingestwf "github.com/streambatch/streambatch/workflows/ingest"
)

// The operator's path, driven through the Temporal API as docs/operations.md
// describes it: S3 goes down while chunks wait; the batch stays unsealed and
// describe shows the failing chunk activities with their attempts and last
// failure; the operator pauses one, repairs S3, resets the activities, and
// the batch seals with exactly N runs.
func TestFaultDescribeResetSeal(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	ctx := context.Background()
	// This test stops its S3 server, so it gets its own.
	s3, err := testenv.StartS3(ctx, filepath.Join(s.dir, "s3-operator"))
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Stop()
	cfg := s.config("ops-" + batch.NewStreamID())
	cfg.S3Endpoint, cfg.S3AccessKeyID, cfg.S3SecretAccessKey = s3.Endpoint, s3.AccessKey, s3.SecretKey
	cfg.SealWait = 0
	objects, err := blob.New(ctx, blob.Config{Endpoint: s3.Endpoint, Bucket: cfg.S3Bucket, Region: s3.Region,
		AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := objects.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	a := &app.App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: s.app.Store, Blob: objects, Temporal: s.app.Temporal}
	ops := s.withApp(t, a)
	_, key := s.newKey(t)

	// 300 items of ~300 bytes: three staged chunks, signalled while no
	// worker serves this queue.
	const n = 300
	items := simpleItems(n)
	for i := range items {
		items[i].Payload = randomText(uint64(i), 300)
	}
	// No worker yet and no seal wait: every item is durably accepted, so
	// the answer is sealed:true before any run exists.
	id := ops.mustCreate(t, key, n)
	if status, res, raw := ops.stream(t, key, id, ndjson(items)); status != http.StatusOK || !res.Sealed {
		t.Fatalf("phase 2: %d %s", status, raw)
	}

	s3.Stop() // the fault: S3 unavailable
	w := a.Worker()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	svc := s.app.Temporal.WorkflowService()
	exec := &commonpb.WorkflowExecution{WorkflowId: id}
	describe := func(t *testing.T) *workflowservice.DescribeWorkflowExecutionResponse {
		t.Helper()
		d, err := svc.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{Namespace: "default", Execution: exec})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	step(t, "describe shows the chunks' retried failures while the batch waits", func(t *testing.T) {
		var failing string
		deadline := time.Now().Add(60 * time.Second)
		for failing == "" {
			for _, pa := range describe(t).PendingActivities {
				if pa.Attempt >= 2 && pa.LastFailure != nil && strings.HasPrefix(pa.ActivityId, "chunk-") {
					failing = pa.ActivityId
					t.Logf("%s (%s): attempt %d, last failure %q", pa.ActivityId, pa.ActivityType.GetName(), pa.Attempt, pa.LastFailure.GetMessage())
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("no chunk activity showed a retried failure within 60 s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if b := s.batchStatus(t, key, id); b.Status != "PENDING" || b.SealedAt != nil {
			t.Fatalf("batch sealed by the workflow while S3 is down: %+v", b)
		}
	})

	// Pause every pending chunk while S3 is down (none can complete now):
	// they stop retrying and show as paused, so none finishes on its own
	// once S3 is back.
	var pending []*workflowpb.PendingActivityInfo
	step(t, "paused chunks show as paused", func(t *testing.T) {
		pending = describe(t).PendingActivities
		for _, pa := range pending {
			if _, err := svc.PauseActivity(ctx, &workflowservice.PauseActivityRequest{Namespace: "default", Execution: exec,
				Activity: &workflowservice.PauseActivityRequest_Id{Id: pa.ActivityId}, Reason: "S3 is down", Identity: "e2e-operator"}); err != nil {
				t.Fatalf("pause %s: %v", pa.ActivityId, err)
			}
		}
		for _, pa := range describe(t).PendingActivities {
			if !pa.Paused {
				t.Fatalf("%s is not shown as paused", pa.ActivityId)
			}
		}
	})

	// Repair the fault, then reset the paused chunks (reset also unpauses
	// them and restarts them at attempt 1).
	step(t, "after the repair the reset chunks seal the batch with exactly n runs", func(t *testing.T) {
		if err := s3.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for _, pa := range pending {
			if _, err := svc.ResetActivity(ctx, &workflowservice.ResetActivityRequest{Namespace: "default", Execution: exec,
				Activity: &workflowservice.ResetActivityRequest_Id{Id: pa.ActivityId}, Identity: "e2e-operator"}); err != nil {
				t.Fatalf("reset %s: %v", pa.ActivityId, err)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		r, err := ingestwf.NewClient(s.app.Temporal, cfg.TaskQueue).Wait(wctx, id)
		if err != nil || r.State != ingestwf.StateSealed || r.Enqueued != n {
			t.Fatalf("result %+v, %v", r, err)
		}
		if got, _, _ := s.app.Store.CountRuns(ctx, id); got != n {
			t.Fatalf("%d runs, want %d", got, n)
		}
	})
}
