package runs

import (
	"encoding/json"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
	"github.com/streambatch/streambatch/workflows/flow"
)

// Names of the run-execution side, registered with Temporal.
const (
	// WorkflowName is the workflow type that executes a batch's runs;
	// its ID is WorkflowID(batch id).
	WorkflowName = "BatchRuns"
	// SignalRunsReady tells BatchRuns that runs may be waiting (a chunk was
	// enqueued, the batch was sealed, a delay passed); its argument is a
	// Hint. Hints carry no data: BatchRuns reads the runs from
	// PostgreSQL, so a forged hint can only make it look again.
	SignalRunsReady = "runs-ready"
	// SignalAbort asks BatchRuns to cancel the runs in flight and abort the
	// batch; its argument is the reason (a string).
	SignalAbort = "abort"
	// SignalCancelRun cancels one executing run; its argument is the run's
	// index.
	SignalCancelRun = "cancel-run"
	// SignalBatchCompleted is sent to a batch's parent workflow
	// (resumeParentOnCompletion) when the batch ends; its argument is a
	// BatchCompleted.
	SignalBatchCompleted = "streambatch.batch-completed"

	// QueryProgress returns a Progress.
	QueryProgress = "progress"

	// ActivityDispatchStep (local) records results and claims runs.
	ActivityDispatchStep = "DispatchStep"
	// ActivityFinishRuns (local) completes or aborts the batch.
	ActivityFinishRuns = "FinishRuns"
	// ActivityReconcileAttempts (local) records exact attempt counts and
	// start times from the workflow's own history.
	ActivityReconcileAttempts = "ReconcileAttempts"
	// ActivityParentNotified (local) records that the parent was signalled
	// (histories from before changeCheckedParent only).
	ActivityParentNotified = "ParentNotified"
	// ActivityNotifyParent (local) checks the batch's parent workflow,
	// signals it under the environment's key and records the outcome.
	ActivityNotifyParent = "NotifyParent"
	// ActivityHandOver (local) hands the runs BatchIngest was executing
	// itself to the batch's BatchRuns workflow (starting it).
	ActivityHandOver = "HandOver"
)

// WorkflowID returns the workflow ID of a batch's BatchRuns workflow.
func WorkflowID(batchID string) string { return batchID + "-runs" }

// Input starts (or continues) a BatchRuns run.
type Input struct {
	BatchID string `json:"batchId"`
	Env     string `json:"env"`
	// Execution is the window and the run defaults (its JSON fields are
	// Input's own: concurrency, maxAttempts, maxDuration).
	flow.Execution
	// Carried is what the previous run handed over (nil on the first).
	Carried *Carried `json:"carried,omitempty"`
}

// Carried is the state a BatchRuns run hands to the next one: only
// counters. Which runs remain is in PostgreSQL.
type Carried struct {
	Segment int `json:"segment"`
	// From is the claim cursor: no run below it waits to be claimed.
	From       int    `json:"from"`
	Dispatched int    `json:"dispatched"`
	Finished   int    `json:"finished"`
	Abort      string `json:"abort,omitempty"`
}

// Hint is SignalRunsReady's argument.
type Hint struct {
	// Sealed is set by the Seal activity.
	Sealed bool `json:"sealed,omitempty"`
	// From, when set, is the lowest index of the runs that may be waiting
	// (an enqueued chunk's first index; 0 after a replay): BatchRuns claims
	// runs in index order from a cursor and moves it back to From. A
	// forged From only makes it scan more.
	From *int `json:"from,omitempty"`
}

// HintFrom returns a hint whose runs start at index from.
func HintFrom(from int) Hint { return Hint{From: &from} }

// Dispatch is a run a DispatchStep claimed, ready to be scheduled.
type Dispatch struct {
	Envelope  tasks.Envelope `json:"envelope"`
	TaskQueue string         `json:"taskQueue"`
	// MaxAttempts, StartToClose and ScheduleToStart (0: none; the run's
	// remaining ttl) shape the activity.
	MaxAttempts     int           `json:"maxAttempts"`
	StartToClose    time.Duration `json:"startToClose"`
	ScheduleToStart time.Duration `json:"scheduleToStart,omitempty"`
	// Priority is Temporal's priority key (0: default).
	Priority int `json:"priority,omitempty"`
	// PayloadAside: the envelope's payload (and, with StepInput.ByRef,
	// its PayloadURL) was left out of the step's result, and the workflow
	// puts it back from Aside.Set.
	PayloadAside bool `json:"payloadAside,omitempty"`
	// Slice, above 1, says the run's task takes slices of up to Slice runs
	// in one activity (tasks.SliceActivity; changeSliced).
	Slice int `json:"slice,omitempty"`
	// Prior is the attempts a slice made of this run before it failed and
	// came back to be retried alone (StepInput.Retry): its activity makes
	// the attempts after them.
	Prior int `json:"prior,omitempty"`
}

// RetryRun is a run that failed in a slice with attempts left: the next
// DispatchStep dispatches it alone.
type RetryRun struct {
	Index int `json:"index"`
	// Attempt is the attempt the retry begins with (1-based, over the
	// run's life), Prior the attempts the slice made.
	Attempt int `json:"attempt"`
	Prior   int `json:"prior"`
}

// RunOutcome is how one run ended, as the workflow saw it.
type RunOutcome struct {
	Index  int             `json:"index"`
	Status batch.RunStatus `json:"status"`
	// Output is the JSON text of the task's result (nil: none).
	Output json.RawMessage `json:"output,omitempty"`
	// OutputType is application/json, or another type for non-JSON
	// results.
	OutputType   string `json:"outputType,omitempty"`
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	// Attempts is how many attempts this dispatch made, at least (the
	// history reconciliation makes it exact).
	Attempts    int       `json:"attempts"`
	CompletedAt time.Time `json:"completedAt"`
	// Latency is the time from dispatch to this outcome (0: never
	// dispatched).
	Latency time.Duration `json:"latency,omitempty"`
}

// StepInput is ActivityDispatchStep's input.
type StepInput struct {
	BatchID string `json:"batchId"`
	Env     string `json:"env"`
	// WorkflowID and RunID identify the calling run: claims are owned by
	// RunID, and Describe reads its pending activities.
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	// Step numbers the claims of this run.
	Step int `json:"step"`
	// Claim is how many runs to claim (0: none), From the lowest index to
	// claim from.
	Claim   int          `json:"claim"`
	From    int          `json:"from"`
	Results []RunOutcome `json:"results,omitempty"`
	// Describe refreshes EXECUTING runs from the run's pending activities.
	Describe bool `json:"describe,omitempty"`
	// Aside asks for the claimed runs' payloads through Aside.Set rather
	// than in the result (changePayloadOnce).
	Aside bool `json:"aside,omitempty"`
	// Retry are runs of this workflow run to dispatch again, alone: each
	// comes back in Runs (or Failed when it can no longer run).
	Retry []RetryRun `json:"retry,omitempty"`
	// ByRef (with Aside) lets the step send payloads by reference
	// (changePayloadRef): an envelope then carries a signed PayloadURL,
	// which is set aside with the payloads.
	ByRef bool `json:"byRef,omitempty"`
	// Compact (with Aside) asks for the claimed runs as
	// StepResult.Claimed rather than Runs, their envelopes set aside whole
	// (changeCompactClaims).
	Compact     bool          `json:"compact,omitempty"`
	MaxAttempts int           `json:"maxAttempts"`
	MaxDuration time.Duration `json:"maxDuration"`
	Now         time.Time     `json:"now"`
}

// StepResult is ActivityDispatchStep's result.
type StepResult struct {
	Runs []Dispatch `json:"runs,omitempty"`
	// Claimed stands for Runs when the step was asked for StepInput.Compact
	// (the workflow rebuilds Runs from it: Claimed.Dispatches).
	Claimed *Claimed `json:"claimed,omitempty"`
	// Failed are claimed runs that cannot be dispatched (bad options, ttl
	// already passed): record them with the next step.
	Failed []RunOutcome `json:"failed,omitempty"`
	// NextDelay is when the next DELAYED run may start.
	NextDelay *time.Time `json:"nextDelay,omitempty"`
	// Promoted is the lowest index of DELAYED runs this step made QUEUED
	// (nil: none): the cursor moves back to it.
	Promoted *int `json:"promoted,omitempty"`
	// Open reports whether runs are still QUEUED, DELAYED or EXECUTING;
	// Ready whether any is QUEUED or EXECUTING.
	Open   bool         `json:"open"`
	Ready  bool         `json:"ready,omitempty"`
	Status batch.Status `json:"status"`
	// Blocked is the lowest index of the runs left unclaimed because their
	// queue is paused or holds its concurrency limit (nil: none), and
	// BlockedQueue that run's queue.
	Blocked      *int   `json:"blocked,omitempty"`
	BlockedQueue string `json:"blockedQueue,omitempty"`
}

// FinishInput is ActivityFinishRuns's input.
type FinishInput struct {
	BatchID string `json:"batchId"`
	Env     string `json:"env"`
	// Abort, when set, aborts the batch with this reason (its open runs
	// are cancelled); otherwise the batch is completed if no run is open.
	Abort string `json:"abort,omitempty"`
	// Inline: the runs executed in BatchIngest (Workflow.Execute); a
	// BatchRuns started meanwhile is woken once the batch ended.
	Inline bool `json:"inline,omitempty"`
}

// FinishResult is ActivityFinishRuns's result.
type FinishResult struct {
	// Status is the batch's status afterwards.
	Status    batch.Status   `json:"status"`
	RunCounts map[string]int `json:"runCounts"`
	// Parent is the workflow to signal (resumeParentOnCompletion), empty
	// when there is none or it was already told.
	Parent string `json:"parent,omitempty"`
}

// NotifyParentInput is ActivityNotifyParent's input.
type NotifyParentInput struct {
	BatchID string `json:"batchId"`
	Env     string `json:"env"`
	// Parent is the workflow to signal.
	Parent    string         `json:"parent"`
	Status    string         `json:"status"`
	RunCounts map[string]int `json:"runCounts"`
}

// NotifyParentResult is ActivityNotifyParent's result.
type NotifyParentResult struct {
	// Refused, when set, says why the parent was not signalled (it is not
	// running, or it does not carry the search attribute BatchEnv equal to
	// the batch's environment).
	Refused string `json:"refused,omitempty"`
}

// ReconcileInput is ActivityReconcileAttempts's input.
type ReconcileInput struct {
	BatchID    string `json:"batchId"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// HandOverInput is ActivityHandOver's input.
type HandOverInput struct {
	BatchID string `json:"batchId"`
	Env     string `json:"env"`
	// From is the claim cursor BatchRuns starts from.
	From int `json:"from"`
}

// BatchCompleted is SignalBatchCompleted's argument.
type BatchCompleted struct {
	BatchID   string         `json:"batchId"`
	Status    string         `json:"status"`
	RunCounts map[string]int `json:"runCounts"`
}

// Result is BatchRuns' result.
type Result struct {
	BatchID   string         `json:"batchId"`
	Status    string         `json:"status"`
	RunCounts map[string]int `json:"runCounts"`
	Segments  int            `json:"segments"`
}

// Progress answers the progress query of BatchRuns.
type Progress struct {
	Status     string `json:"status"`
	Executing  int    `json:"executing"`
	Dispatched int    `json:"dispatched"`
	Finished   int    `json:"finished"`
	Segment    int    `json:"segment"`
	Waiting    string `json:"waiting"`
}
