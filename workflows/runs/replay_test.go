package runs

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/workflows/flow/flowtest"
)

// TestReplayRecordedHistories replays every BatchRuns history in
// testdata against the current BatchRuns. Histories recorded before a
// change stay: they prove the versioned branches (GetVersion) still
// replay.
func TestReplayRecordedHistories(t *testing.T) {
	t.Parallel()
	flowtest.Replay(t, "testdata/batch_runs_*.json", 3, func(r worker.WorkflowReplayer) {
		r.RegisterWorkflowWithOptions(Workflow{}.BatchRuns, workflow.RegisterOptions{Name: WorkflowName})
	})
}
