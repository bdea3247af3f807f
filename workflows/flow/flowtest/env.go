package flowtest

import (
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

// Patient is how long a workflow under test may go without yielding, or
// stay blocked, in wall-clock time before the test environment gives up.
// The SDK's defaults (1 s without yielding, 3 s blocked) fail a
// correct workflow on a loaded machine (the suite in parallel, other work
// running); a real deadlock still fails, only later.
const Patient = time.Minute

// NewEnv returns a test workflow environment with Patient limits.
func NewEnv(s *testsuite.WorkflowTestSuite) *testsuite.TestWorkflowEnvironment {
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(Patient)
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: Patient})
	return env
}
