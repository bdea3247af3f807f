package workflows

import (
	"io"
	"log/slog"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistory replays the history of a real 1,000-item batch
// (recorded by the e2e test with STREAMBATCH_RECORD_HISTORY) against the
// current BatchIngest, so a change that would break running workflows
// (non-determinism) fails here.
func TestReplayRecordedHistory(t *testing.T) {
	t.Parallel()
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(BatchIngest, workflow.RegisterOptions{Name: WorkflowName})
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := r.ReplayWorkflowHistoryFromJSONFile(logger, "testdata/batch_ingest_1000.json"); err != nil {
		t.Fatal(err)
	}
}
