package wire

import (
	"encoding/json"
	"time"

	"github.com/streambatch/streambatch/batch"
)

// Run is one run: an element of RunsPage, and the answer of POST
// /api/v3/runs/:runId/cancel.
type Run struct {
	ID    string `json:"id"`
	Index int    `json:"index"`
	Task  string `json:"task"`
	// Status is QUEUED, DELAYED, EXECUTING, COMPLETED, FAILED, CANCELED,
	// EXPIRED or TIMED_OUT; CACHED for an item whose idempotency key named
	// an existing run, which CachedRunID names (the run executes once,
	// under its own batch).
	Status         string          `json:"status"`
	CachedRunID    string          `json:"cachedRunId,omitempty"`
	PayloadType    string          `json:"payloadType"`
	Payload        *string         `json:"payload,omitempty"`
	Options        json.RawMessage `json:"options,omitempty"`
	QueueTimestamp time.Time       `json:"queueTimestamp"`
	Error          *RunError       `json:"error,omitempty"`
	// Output is the task's result as JSON text (the object key when
	// OutputType is application/store).
	Output      *string    `json:"output,omitempty"`
	OutputType  *string    `json:"outputType,omitempty"`
	Attempts    int        `json:"attempts"`
	StartedAt   *time.Time `json:"startedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	DelayUntil  *time.Time `json:"delayUntil,omitempty"`
}

// Final reports whether the run will not change any more (short of a
// replay).
func (r *Run) Final() bool { return batch.RunStatus(r.Status).Final() }

// RunError is a failed run's error.
type RunError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RunsPage is one page of GET /api/v3/batches/:batchId/runs, ordered by
// index; NextCursor (opaque) is given whenever runs remain.
type RunsPage struct {
	Data       []Run   `json:"data"`
	NextCursor *string `json:"nextCursor,omitempty"`
}
