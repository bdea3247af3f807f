// Package flowtest holds what the flows' tests share: replaying the
// histories recorded from real batches (e2e with
// STREAMBATCH_RECORD_HISTORY) against the current workflow code. Tests
// only; production code never imports it.
package flowtest

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/testenv"
)

// Replay replays every history that glob matches (at least min of them),
// each in its own subtest, with the workflows register adds, so a change
// that would break running workflows (non-determinism) fails. Histories
// recorded since payloads are encrypted hold the e2e suite's test key's
// payloads (older ones are plain, which the codec passes).
func Replay(t *testing.T, glob string, min int, register func(worker.WorkflowReplayer)) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < min {
		t.Fatalf("only %d recorded histories match %s", len(files), glob)
	}
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
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
			register(r)
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
