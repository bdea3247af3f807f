package flow

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// Execution shapes how a batch's runs execute. It travels in the input of
// the workflow that executes them (BatchRuns, or BatchIngest for a batch
// it runs itself), so a replay sees the values the batch started with.
type Execution struct {
	// Concurrency is the window of run activities in flight at once (a
	// slice of runs counts as one).
	Concurrency int `json:"concurrency"`
	// MaxAttempts and MaxDuration apply to runs whose item sets neither.
	MaxAttempts int           `json:"maxAttempts"`
	MaxDuration time.Duration `json:"maxDuration"`
}

// RunsHere lets BatchIngest execute a small batch's runs itself, instead
// of handing them to a BatchRuns workflow of their own: a batch of at most
// MaxRuns runs whose items all arrived in the workflow's first chunk and
// were enqueued and sealed by local activities.
type RunsHere struct {
	MaxRuns int `json:"maxRuns"`
	Execution
}

// RunsOutcome is how runs executed inside another flow's workflow ended.
type RunsOutcome struct {
	// Status is the batch's status afterwards (COMPLETED or ABORTED), or
	// empty when the runs were handed over.
	Status    string         `json:"status,omitempty"`
	RunCounts map[string]int `json:"runCounts,omitempty"`
	// HandedOver is set when the workflow grew too long to keep them and
	// handed the rest to the batch's BatchRuns workflow.
	HandedOver bool `json:"handedOver,omitempty"`
}

// RunsExecuted is the part of BatchIngest's result that says how the runs
// it executed itself ended: the run flow's Client reads it when it waits
// for a batch's runs.
type RunsExecuted struct {
	// Executed is nil when BatchRuns executes the runs.
	Executed *RunsOutcome `json:"executed,omitempty"`
}

// RunsExecutor executes a sealed batch's runs inside the calling workflow
// and returns when the batch ends or the runs are handed over. The run
// flow provides it (runs.Workflow.Execute); the worker gives it to the
// ingest flow, so neither flow's package imports the other.
type RunsExecutor func(ctx workflow.Context, batchID, env string, x Execution) (RunsOutcome, error)

// StateProcessing is the BatchState of a batch whose runs execute: set by
// BatchRuns when it starts, by BatchIngest when it executes them itself.
const StateProcessing = "PROCESSING"
