package batch

// Status is the lifecycle state of a batch row.
type Status string

// Batch states. A batch is created PENDING, becomes PROCESSING when it is
// sealed (all runCount runs exist) and ABORTED when it is aborted or its seal
// timeout passes first.
const (
	StatusPending    Status = "PENDING"
	StatusProcessing Status = "PROCESSING"
	StatusAborted    Status = "ABORTED"
)

// RunStatus is the state of a run row.
type RunStatus string

// Run states. Ingest creates runs QUEUED, or FAILED when the item could not
// be accepted (for example an oversized line); aborting a batch turns its
// queued runs CANCELED.
const (
	RunQueued   RunStatus = "QUEUED"
	RunFailed   RunStatus = "FAILED"
	RunCanceled RunStatus = "CANCELED"
)

// Error codes stored on pre-failed runs.
const (
	// ErrorPayloadTooLarge marks a line longer than the item size limit.
	ErrorPayloadTooLarge = "PAYLOAD_TOO_LARGE"
)

// Payload types with a meaning to streambatch.
const (
	// PayloadTypeJSON is the default payload type of an item.
	PayloadTypeJSON = "application/json"
	// PayloadTypeStore marks a payload that is an object key, not data.
	PayloadTypeStore = "application/store"
)
