package batch

// Status is the lifecycle state of a batch row.
type Status string

// Batch states. A batch is created PENDING, becomes PROCESSING when it is
// sealed (all runCount runs exist), COMPLETED when every run is final, and
// ABORTED when it is aborted (before or after the seal) or its seal timeout
// passes first. A replay takes a COMPLETED batch back to PROCESSING.
const (
	StatusPending    Status = "PENDING"
	StatusProcessing Status = "PROCESSING"
	StatusCompleted  Status = "COMPLETED"
	StatusAborted    Status = "ABORTED"
)

// Terminal reports whether the batch has ended (COMPLETED or ABORTED).
func (s Status) Terminal() bool { return s == StatusCompleted || s == StatusAborted }

// RunStatus is the state of a run row.
type RunStatus string

// Run states. Ingest creates runs QUEUED (DELAYED when the item has a
// delay), or FAILED when the item could not be accepted (for example an
// oversized line). A run is EXECUTING once a task worker started it, and
// ends COMPLETED, FAILED (its last attempt failed), TIMED_OUT (its last
// attempt ran past maxDuration), EXPIRED (no worker started it within its
// ttl) or CANCELED (its batch was aborted or it was cancelled).
const (
	RunQueued    RunStatus = "QUEUED"
	RunDelayed   RunStatus = "DELAYED"
	RunExecuting RunStatus = "EXECUTING"
	RunCompleted RunStatus = "COMPLETED"
	RunFailed    RunStatus = "FAILED"
	RunCanceled  RunStatus = "CANCELED"
	RunExpired   RunStatus = "EXPIRED"
	RunTimedOut  RunStatus = "TIMED_OUT"
)

// RunCached is the state of a batch's row for an item whose idempotency
// key named an existing run: the row holds the item's index and names that
// run, which reads show in its place; it never executes, and counts as
// final for its batch's completion. It is not one of RunStatuses (no run
// is shown in it).
const RunCached RunStatus = "CACHED"

// RunStatuses lists every status a run is shown in, open ones first.
var RunStatuses = []RunStatus{RunQueued, RunDelayed, RunExecuting, RunCompleted, RunFailed, RunCanceled, RunExpired, RunTimedOut}

// Final reports whether a run in this status will not change any more
// (short of a replay).
func (s RunStatus) Final() bool {
	return s != RunQueued && s != RunDelayed && s != RunExecuting
}

// Error codes stored on pre-failed runs.
const (
	// ErrorPayloadTooLarge marks a line longer than the item size limit.
	ErrorPayloadTooLarge = "PAYLOAD_TOO_LARGE"
	// ErrorPayloadMissing marks an item whose offloaded payload was not in
	// the bucket when its run was created.
	ErrorPayloadMissing = "PAYLOAD_MISSING"
	// ErrorPayloadChanged marks an item whose offloaded payload was in the
	// bucket with another size than the API wrote when its run was
	// created: not the payload the client sent.
	ErrorPayloadChanged = "PAYLOAD_CHANGED"
	// ErrorChunkUnreadable marks an item accepted by the API whose chunk
	// could not be read back when its run was created (its staged object
	// lost or changed, or undecodable): the item itself is gone, so its run
	// records only the index, and the task "unknown".
	ErrorChunkUnreadable = "CHUNK_UNREADABLE"
)

// CreationErrors are the codes of runs that failed before they could run;
// a replay does not re-run them (it would fail the same way).
var CreationErrors = []string{ErrorPayloadTooLarge, ErrorPayloadMissing, ErrorPayloadChanged, ErrorChunkUnreadable, ErrorInvalidOptions}

// Error codes of runs that failed while executing.
const (
	// ErrorInvalidOptions marks a run whose options cannot be honoured
	// (an unparseable delay or ttl, an invalid queue name).
	ErrorInvalidOptions = "INVALID_OPTIONS"
	// ErrorTaskFailed is the code of a task error without a type.
	ErrorTaskFailed = "TASK_RUN_FAILED"
	// ErrorMaxDuration marks a run whose last attempt ran past maxDuration.
	ErrorMaxDuration = "MAX_DURATION_EXCEEDED"
	// ErrorTTLExpired marks a run that no worker started within its ttl.
	ErrorTTLExpired = "TTL_EXPIRED"
	// ErrorCanceled marks a cancelled run.
	ErrorCanceled = "CANCELED"
)

// Output types.
const (
	// OutputTypeJSON is a run output stored as JSON text.
	OutputTypeJSON = "application/json"
)

// Payload types with a meaning to streambatch.
const (
	// PayloadTypeJSON is the default payload type of an item.
	PayloadTypeJSON = "application/json"
	// PayloadTypeStore marks a payload that is an object key, not data.
	PayloadTypeStore = "application/store"
)
