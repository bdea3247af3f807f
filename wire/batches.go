package wire

import (
	"time"

	"github.com/streambatch/streambatch/batch"
)

// CreateBatchRequest is Phase 1's body, POST /api/v3/batches. The server
// validates it field by field (to name the offending field), so it reads the
// body without this type; the Go client encodes it.
type CreateBatchRequest struct {
	// RunCount is the number of items the stream will carry (required).
	RunCount int `json:"runCount"`
	// TaskIdentifiers optionally lists the tasks the items use.
	TaskIdentifiers []string `json:"taskIdentifiers,omitempty"`
	// IdempotencyKey makes a repeated create return the first batch
	// (CreateBatchResponse.IsCached) instead of a new one.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// ParentRunID and ResumeParentOnCompletion are stored with the batch.
	ParentRunID              string `json:"parentRunId,omitempty"`
	ResumeParentOnCompletion bool   `json:"resumeParentOnCompletion,omitempty"`
}

// CreateBatchResponse is Phase 1's answer (trigger.dev
// CreateBatchResponse). IdempotencyKey is given back on a new batch created
// with one, never on a cached one.
type CreateBatchResponse struct {
	ID             string  `json:"id"`
	RunCount       int     `json:"runCount"`
	IsCached       bool    `json:"isCached"`
	IdempotencyKey *string `json:"idempotencyKey,omitempty"`
}

// StreamItemsResponse is Phase 2's answer, POST
// /api/v3/batches/:batchId/items (trigger.dev StreamBatchItemsResponse plus
// runCount). EnqueuedCount and ExpectedCount are present only on an answer
// of sealed:false: optional fields are omitted, never null.
type StreamItemsResponse struct {
	ID                string `json:"id"`
	ItemsAccepted     int    `json:"itemsAccepted"`
	ItemsDeduplicated int    `json:"itemsDeduplicated"`
	Sealed            bool   `json:"sealed"`
	EnqueuedCount     *int   `json:"enqueuedCount,omitempty"`
	ExpectedCount     *int   `json:"expectedCount,omitempty"`
	RunCount          int    `json:"runCount"`
}

// BatchStatus is GET /api/v3/batches/:batchId (and the answer of its abort).
type BatchStatus struct {
	ID string `json:"id"`
	// Status is PENDING (items arriving), PROCESSING (sealed, runs
	// executing), COMPLETED (every run final) or ABORTED.
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
	// RunCounts maps each run status present (QUEUED, DELAYED, EXECUTING,
	// COMPLETED, FAILED, CANCELED, EXPIRED, TIMED_OUT) to its count.
	RunCounts map[string]int `json:"runCounts"`
	Replays   int            `json:"replays,omitempty"`
	// RunsWaitingForWorker is how many runs were dispatched to their task
	// queue and not yet started by a task worker (omitted when none;
	// refreshed at most a minute late), WaitingForWorkerSince when the
	// longest-waiting was dispatched. Runs that wait long mean no worker
	// serves their task queue (runs.<env>[.<queue>]) or registered their
	// task.
	RunsWaitingForWorker  int        `json:"runsWaitingForWorker,omitempty"`
	WaitingForWorkerSince *time.Time `json:"waitingForWorkerSince,omitempty"`
	// WorkflowID is the BatchIngest workflow, RunsWorkflowID the workflow
	// that executes the runs: the batch's BatchRuns (<id>-runs), or, for a
	// small batch, its BatchIngest itself (until its runs move to
	// <id>-runs: a replay, a hand-over, a seal the workflow lost).
	WorkflowID     string `json:"workflowId"`
	RunsWorkflowID string `json:"runsWorkflowId"`
	// Parent is the workflow the batch resumes when it ends
	// (resumeParentOnCompletion), and what came of it.
	Parent *Parent `json:"parent,omitempty"`
}

// Terminal reports whether the batch is COMPLETED or ABORTED.
func (b *BatchStatus) Terminal() bool { return batch.Status(b.Status).Terminal() }

// Parent is a batch's parent workflow: signalled at NotifiedAt, or refused
// (Refused says why: not running, or not carrying the search attribute
// BatchEnv equal to the batch's environment); neither while the batch runs.
type Parent struct {
	WorkflowID string     `json:"workflowId"`
	NotifiedAt *time.Time `json:"notifiedAt,omitempty"`
	Refused    *string    `json:"refused,omitempty"`
}

// Missing is GET /api/v3/batches/:batchId/missing: the index ranges the
// server has not accepted yet, so a retry re-sends only those.
type Missing struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	RunCount      int    `json:"runCount"`
	AcceptedCount int    `json:"acceptedCount"`
	// Missing lists index ranges [start, end) not accepted yet, in order.
	Missing batch.Ranges `json:"missing"`
	// More is true when there are more ranges than the limit returned.
	More bool `json:"more,omitempty"`
}

// AbortRequest is the optional body of POST /api/v3/batches/:batchId/abort.
type AbortRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Replay answers POST /api/v3/batches/:batchId/replay.
type Replay struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Replayed int    `json:"replayed"`
}

// ErrorBody is every error answer: {"error": "..."}, a message a person can
// act on.
type ErrorBody struct {
	Error string `json:"error"`
}

// Packet answers PUT /api/v2/packets/*filename: where to upload an
// offloaded payload and the path an item references it by.
type Packet struct {
	PresignedURL string `json:"presignedUrl"`
	StoragePath  string `json:"storagePath"`
}
