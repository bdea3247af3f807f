package ingest

import (
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

// Names registered with Temporal.
const (
	// WorkflowName is the workflow type; the workflow ID is the batch id.
	WorkflowName = "BatchIngest"
	// SignalItems carries one batch.ChunkRef.
	SignalItems = "items"
	// SignalAbort asks the workflow to abort the batch; its argument is the
	// reason (a string).
	SignalAbort = "abort"
	// QueryProgress returns a Progress.
	QueryProgress = "progress"
	// QueryAccepted returns the *batch.IndexSet of the indexes the
	// workflow's chunks own, for operators (Phase 2 reads the accepted
	// indexes from PostgreSQL).
	QueryAccepted = "accepted"

	// ActivityOffloadAndEnqueue turns one chunk into runs.
	ActivityOffloadAndEnqueue = "OffloadAndEnqueue"
	// ActivitySeal seals the batch once every run exists.
	ActivitySeal = "Seal"
	// ActivityAbort aborts the batch.
	ActivityAbort = "Abort"
)

// Application error types that activities return as non-retryable (and
// flow.ErrTypeBatchNotPending: the batch was sealed or aborted elsewhere).
const (
	// ErrTypeInvalidChunk: a chunk cannot be read or does not match its
	// reference; retrying cannot help. The workflow gives its indexes back
	// so that a re-sent stream delivers them again.
	ErrTypeInvalidChunk = "InvalidChunk"
)

// Input starts (or continues) a BatchIngest run.
type Input struct {
	BatchID      string    `json:"batchId"`
	Env          string    `json:"env"`
	RunCount     int       `json:"runCount"`
	CreatedAt    time.Time `json:"createdAt"`
	SealDeadline time.Time `json:"sealDeadline"`
	// Window bounds outstanding OffloadAndEnqueue activities (default 100).
	Window int `json:"window"`
	// RunsHere, when set, lets the workflow execute a small batch's runs
	// itself (changeRunsHere) instead of starting BatchRuns for them.
	RunsHere *flow.RunsHere `json:"runsHere,omitempty"`
	// Carried is the state handed over by continue-as-new; nil on the
	// first run.
	Carried *Carried `json:"carried,omitempty"`
}

// Carried is the state a run hands to the next through continue-as-new:
// compact (a bitmap and counters) plus the chunk references not yet
// scheduled.
type Carried struct {
	Accepted           *batch.IndexSet `json:"accepted"`
	Enqueued           int             `json:"enqueued"`
	Failed             int             `json:"failed"`
	Queue              []Work          `json:"queue,omitempty"`
	NextActivity       int             `json:"nextActivity"`
	Run                int             `json:"run"`
	ChunksReceived     int             `json:"chunksReceived"`
	ChunksDeduplicated int             `json:"chunksDeduplicated"`
	// InlineOnly holds while every chunk the batch received travelled
	// inside its signal: nothing was staged in S3, so the seal has no
	// staging to clean up (changeLocalSmall). False in state carried by a
	// run without that change, whose seal then cleans up the staging.
	InlineOnly bool `json:"inlineOnly,omitempty"`
}

// Work is an accepted chunk waiting for (or running) its activity.
type Work struct {
	Chunk batch.ChunkRef `json:"chunk"`
	// Owned lists the chunk's indexes that it delivered first; nil means
	// all of them. Only owned items are inserted, so the first delivery of
	// an index wins.
	Owned       batch.Ranges `json:"owned,omitempty"`
	OwnedCount  int          `json:"ownedCount"`
	OwnedFailed int          `json:"ownedFailed"`
	// Remote is set when a local attempt failed: the chunk then goes to
	// the regular activity, which retries visibly (changeLocalSmall).
	Remote bool `json:"remote,omitempty"`
}

// EnqueueInput is the OffloadAndEnqueue activity's input.
type EnqueueInput struct {
	BatchID string         `json:"batchId"`
	Env     string         `json:"env"`
	Chunk   batch.ChunkRef `json:"chunk"`
	Owned   batch.Ranges   `json:"owned,omitempty"`
	// SkipNotify leaves telling BatchRuns about the new runs to the Seal
	// that follows at once (its hint carries From), saving a signal.
	SkipNotify bool `json:"skipNotify,omitempty"`
}

// EnqueueResult is the OffloadAndEnqueue activity's result.
type EnqueueResult struct {
	// Inserted counts rows this attempt created (a retry after a commit
	// inserts 0); the workflow counts progress by owned indexes instead.
	Inserted int `json:"inserted"`
}

// SealInput is the Seal activity's input.
type SealInput struct {
	BatchID string `json:"batchId"`
	Env     string `json:"env"`
	// InlineOnly skips the staging cleanup: no chunk of the batch was
	// staged (no S3 request for a batch that fits in its signals).
	InlineOnly bool `json:"inlineOnly,omitempty"`
	// From, when set, goes into the seal's hint to BatchRuns: the runs of
	// a chunk enqueued with SkipNotify start there.
	From *int `json:"from,omitempty"`
	// RunsHere: the workflow executes the runs itself, so the seal tells
	// no BatchRuns.
	RunsHere bool `json:"runsHere,omitempty"`
}

// SealResult is the Seal activity's result.
type SealResult struct {
	SealedAt time.Time `json:"sealedAt"`
}

// AbortInput is the Abort activity's input.
type AbortInput struct {
	BatchID string `json:"batchId"`
	Env     string `json:"env"`
	Reason  string `json:"reason"`
}

// AbortResult is the Abort activity's result.
type AbortResult struct {
	// Sealed is true when the batch had been sealed before the abort, which
	// then changed nothing.
	Sealed bool `json:"sealed"`
}

// Workflow outcomes (Result.State and the BatchState search attribute).
const (
	StateReceiving = "PENDING"
	StateSealing   = "SEALING"
	StateSealed    = "SEALED"
	StateAborting  = "ABORTING"
	StateAborted   = "ABORTED"
)

// Result is the workflow's result: how the batch ended.
type Result struct {
	BatchID  string     `json:"batchId"`
	State    string     `json:"state"` // StateSealed or StateAborted
	Enqueued int        `json:"enqueued"`
	Failed   int        `json:"failed"`
	SealedAt *time.Time `json:"sealedAt,omitempty"`
	Reason   string     `json:"reason,omitempty"` // why it was aborted
	Runs     int        `json:"runs"`             // workflow runs (continue-as-new chain length)
	// RunsExecuted says how the batch's runs ended when the workflow
	// executed them itself.
	flow.RunsExecuted
}

// Progress is the answer to QueryProgress.
type Progress struct {
	State              string `json:"state"`
	RunCount           int    `json:"runCount"`
	Accepted           int    `json:"accepted"`
	Enqueued           int    `json:"enqueued"`
	Failed             int    `json:"failed"`
	PendingActivities  int    `json:"pendingActivities"`
	QueuedChunks       int    `json:"queuedChunks"`
	ChunksReceived     int    `json:"chunksReceived"`
	ChunksDeduplicated int    `json:"chunksDeduplicated"`
	Run                int    `json:"run"`
}
