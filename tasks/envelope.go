package tasks

import "encoding/json"

// Envelope is the one argument of a run's activity. Fields may be added
// later; decoders must ignore unknown ones.
type Envelope struct {
	// ID is the run id (run_<batch>_<index>).
	ID string `json:"id"`
	// BatchID is the batch the run belongs to.
	BatchID string `json:"batchId"`
	// Index is the run's position in its batch.
	Index int `json:"index"`
	// Task is the task identifier (also the activity type).
	Task string `json:"task"`
	// Payload is the payload as the run holds it: packet text for inline
	// payloads, the object key for application/store ones.
	Payload string `json:"payload,omitempty"`
	// PayloadType is the payload's content type (application/json,
	// application/super+json, application/store, …).
	PayloadType string `json:"payloadType"`
	// PayloadURL is a presigned GET URL of an application/store payload
	// (valid for at least an hour after the run was dispatched).
	PayloadURL string `json:"payloadUrl,omitempty"`
	// PayloadRefType is set when the payload travels by reference (it was
	// at least STREAMBATCH_PAYLOAD_REF_THRESHOLD): it is the type of the
	// payload PayloadURL returns, a signed URL of streambatch's API, and
	// PayloadType is application/store, so that a worker that predates
	// references fetches it as any stored payload. Register and
	// RegisterRun resolve a reference before calling the task: the task
	// sees the payload inline, with this type.
	PayloadRefType string `json:"payloadRefType,omitempty"`
	// Attempt is the 1-based attempt the run was dispatched with (earlier
	// attempts of a replayed run count). The attempt actually running is
	// Attempt - 1 + the activity's own attempt; Run.Attempt computes it.
	Attempt int `json:"attempt"`
	// Metadata, Tags and IdempotencyKey are copied from the item's options
	// when it had them.
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	Tags           []string        `json:"tags,omitempty"`
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	// MaxDurationMs is the longest one attempt of the run may take, in
	// milliseconds; set in slices (SliceActivity), where the worker
	// enforces it per run (0: not said; a run activity's own
	// start-to-close timeout bounds it).
	MaxDurationMs int64 `json:"maxDurationMs,omitempty"`
}

// Payload types with a meaning to this package.
const (
	// PayloadTypeJSON is plain JSON text.
	PayloadTypeJSON = "application/json"
	// PayloadTypeSuperJSON is the trigger.dev SDK's superjson packet:
	// {"json": value, "meta": …}.
	PayloadTypeSuperJSON = "application/super+json"
	// PayloadTypeStore marks a payload stored in S3: Payload is its key and
	// PayloadURL a presigned URL to fetch it.
	PayloadTypeStore = "application/store"
)

// TaskQueue returns the task queue of an environment's runs: "runs.<env>",
// or "runs.<env>.<queue>" for runs whose item named a queue.
func TaskQueue(env, queue string) string {
	if queue == "" {
		return "runs." + env
	}
	return "runs." + env + "." + queue
}
