package workflows

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/testenv"
)

// TestReplayRecordedHistories replays every history in testdata (recorded
// from real batches by the e2e tests with STREAMBATCH_RECORD_HISTORY)
// against the current BatchIngest and BatchRuns, so a change that would
// break running workflows (non-determinism) fails here. Histories recorded
// before a change stay: they prove the versioned branches (GetVersion) still
// replay.
func TestReplayRecordedHistories(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("only %d recorded histories", len(files))
	}
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	// Histories recorded since payloads are encrypted hold the e2e suite's
	// test key's payloads (older ones are plain, which the codec passes).
	keys, err := codec.ParseKeys(testenv.PayloadKeys)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				DataConverter:    codec.DataConverter(keys),
				FailureConverter: codec.FailureConverter(keys),
			})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflowWithOptions(BatchIngest, workflow.RegisterOptions{Name: WorkflowName})
			r.RegisterWorkflowWithOptions(BatchRuns, workflow.RegisterOptions{Name: RunsWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Fatalf("%s (%s): %v", f, workflowType(t, f), err)
			}
		})
	}
}

// workflowType reads the workflow type a recorded history starts.
func workflowType(t *testing.T, path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Events []struct {
			Attrs struct {
				Type struct {
					Name string `json:"name"`
				} `json:"workflowType"`
			} `json:"workflowExecutionStartedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || len(h.Events) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	return h.Events[0].Attrs.Type.Name
}
