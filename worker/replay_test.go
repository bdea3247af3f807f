package worker

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/testenv"
	"github.com/streambatch/streambatch/workflows/flow/flowtest"
	"github.com/streambatch/streambatch/workflows/ingest"
	"github.com/streambatch/streambatch/workflows/runs"
)

// runsHereHistories are BatchIngest histories of small batches whose runs
// BatchIngest executed itself (workflows/ingest changeRunsHere), recorded
// by the e2e suite: they replay only against BatchIngest wired with the
// run flow's executor, as this package registers it, so they live here
// rather than with either flow.
const runsHereHistories = "testdata/batch_ingest_runs_here*.json"

// TestReplayRunsHereHistories replays them against BatchIngest as New
// registers it.
func TestReplayRunsHereHistories(t *testing.T) {
	t.Parallel()
	flowtest.Replay(t, runsHereHistories, 2, func(r sdkworker.WorkflowReplayer) {
		wf := ingest.Workflow{Runs: runs.Workflow{}.Execute}
		r.RegisterWorkflowWithOptions(wf.BatchIngest, workflow.RegisterOptions{Name: ingest.WorkflowName})
	})
}

// Without the executor, BatchIngest does not execute runs, so the same
// histories must fail to replay: they do exercise the branch.
func TestRunsHereHistoriesNeedTheExecutor(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(runsHereHistories)
	if err != nil || len(files) == 0 {
		t.Fatalf("no history matches %s (%v)", runsHereHistories, err)
	}
	keys, err := codec.ParseKeys(testenv.PayloadKeys)
	if err != nil {
		t.Fatal(err)
	}
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, f := range files {
		r, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{
			DataConverter: codec.DataConverter(keys), FailureConverter: codec.FailureConverter(keys),
		})
		if err != nil {
			t.Fatal(err)
		}
		r.RegisterWorkflowWithOptions(ingest.BatchIngest, workflow.RegisterOptions{Name: ingest.WorkflowName})
		if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err == nil {
			t.Errorf("%s replayed without the executor: it does not exercise BatchIngest's runs", f)
		}
	}
}
