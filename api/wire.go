package api

import (
	"encoding/json"
	"time"
)

// createBatchResponse is Phase 1's answer (trigger.dev CreateBatchResponse).
type createBatchResponse struct {
	ID             string  `json:"id"`
	RunCount       int     `json:"runCount"`
	IsCached       bool    `json:"isCached"`
	IdempotencyKey *string `json:"idempotencyKey,omitempty"`
}

// streamItemsResponse is Phase 2's answer (trigger.dev
// StreamBatchItemsResponse plus runCount). The counts of a not-sealed
// answer are present only then: optional fields are omitted, never null.
type streamItemsResponse struct {
	ID                string `json:"id"`
	ItemsAccepted     int    `json:"itemsAccepted"`
	ItemsDeduplicated int    `json:"itemsDeduplicated"`
	Sealed            bool   `json:"sealed"`
	EnqueuedCount     *int   `json:"enqueuedCount,omitempty"`
	ExpectedCount     *int   `json:"expectedCount,omitempty"`
	RunCount          int    `json:"runCount"`
}

// batchResponse is GET /api/v3/batches/:batchId.
type batchResponse struct {
	ID            string     `json:"id"`
	Status        string     `json:"status"`
	Sealed        bool       `json:"sealed"`
	RunCount      int        `json:"runCount"`
	EnqueuedCount int        `json:"enqueuedCount"`
	FailedCount   int        `json:"failedCount"`
	CreatedAt     time.Time  `json:"createdAt"`
	SealedAt      *time.Time `json:"sealedAt,omitempty"`
	AbortedAt     *time.Time `json:"abortedAt,omitempty"`
	AbortReason   *string    `json:"abortReason,omitempty"`
	CompletedAt   *time.Time `json:"completedAt,omitempty"`
	// RunCounts maps each run status present to its count.
	RunCounts map[string]int `json:"runCounts"`
	Replays   int            `json:"replays,omitempty"`
	// RunsWaitingForWorker is how many runs were dispatched to their task
	// queue and not started by a task worker (omitted when none),
	// WaitingForWorkerSince when the longest-waiting was dispatched.
	RunsWaitingForWorker  int        `json:"runsWaitingForWorker,omitempty"`
	WaitingForWorkerSince *time.Time `json:"waitingForWorkerSince,omitempty"`
	// WorkflowID is the BatchIngest workflow, RunsWorkflowID the BatchRuns
	// workflow that executes the runs.
	WorkflowID     string `json:"workflowId"`
	RunsWorkflowID string `json:"runsWorkflowId"`
	// Parent is the workflow the batch resumes when it ends
	// (resumeParentOnCompletion), and what came of it.
	Parent *parentResponse `json:"parent,omitempty"`
}

// parentResponse is a batch's parent workflow: signalled at NotifiedAt, or
// refused (Refused says why: not running, or not carrying the search
// attribute BatchEnv equal to the batch's environment); neither while the
// batch runs.
type parentResponse struct {
	WorkflowID string     `json:"workflowId"`
	NotifiedAt *time.Time `json:"notifiedAt,omitempty"`
	Refused    *string    `json:"refused,omitempty"`
}

// runResponse is one run in GET /api/v3/batches/:batchId/runs.
type runResponse struct {
	ID             string          `json:"id"`
	Index          int             `json:"index"`
	Task           string          `json:"task"`
	Status         string          `json:"status"`
	PayloadType    string          `json:"payloadType"`
	Payload        *string         `json:"payload,omitempty"`
	Options        json.RawMessage `json:"options,omitempty"`
	QueueTimestamp time.Time       `json:"queueTimestamp"`
	Error          *runError       `json:"error,omitempty"`
	// Output is the task's result as JSON text (the object key when
	// OutputType is application/store).
	Output      *string    `json:"output,omitempty"`
	OutputType  *string    `json:"outputType,omitempty"`
	Attempts    int        `json:"attempts"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	DelayUntil  *time.Time `json:"delayUntil,omitempty"`
}

type runError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// runsResponse is a page of runs.
type runsResponse struct {
	Data       []runResponse `json:"data"`
	NextCursor *string       `json:"nextCursor,omitempty"`
}

// replayResponse answers POST /api/v3/batches/:batchId/replay.
type replayResponse struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Replayed int    `json:"replayed"`
}
