package wire

import "encoding/json"

// The realtime routes (GET /realtime/v1/runs/:runId, /realtime/v1/batches/
// :batchId, /realtime/v1/runs?tags=…) speak the ElectricSQL shape protocol
// that @trigger.dev/core's runShapeStream reads through
// @electric-sql/client: a JSON array of messages per answer, the position in
// the electric-offset header, and every column value as PostgreSQL's text
// form, typed by the electric-schema header (ShapeSchema).

// ShapeMessage is one message of a shape answer: a change (Key, Value and
// Headers.Operation) or a control message (Headers.Control only).
type ShapeMessage struct {
	Key     string             `json:"key,omitempty"`
	Value   *TriggerDevRunRow  `json:"value,omitempty"`
	Headers ShapeMessageHeader `json:"headers"`
}

// ShapeMessageHeader is a message's headers: Operation "insert" or
// "update" with the Relation of a change, or Control "up-to-date".
type ShapeMessageHeader struct {
	Operation string   `json:"operation,omitempty"`
	Relation  []string `json:"relation,omitempty"`
	Control   string   `json:"control,omitempty"`
}

// Shape message values.
const (
	ShapeInsert   = "insert"
	ShapeUpdate   = "update"
	ShapeUpToDate = "up-to-date"
)

// TriggerDevRunRow is a run as @trigger.dev/core's SubscribeRunRawShape
// parses it: a row of trigger.dev's TaskRun table. Status is the table's
// TaskRunStatus (PENDING, EXECUTING, COMPLETED_SUCCESSFULLY,
// COMPLETED_WITH_ERRORS, …), which the SDK maps to the API's RunStatus;
// times are "2006-01-02T15:04:05.000" in UTC without a zone (the SDK adds
// the Z); numbers and booleans are their text; RunTags and RealtimeStreams
// are PostgreSQL array literals; Error is a TaskRunError's JSON text. A nil
// pointer is a NULL; a skipped column (skipColumns) is absent.
type TriggerDevRunRow struct {
	ID              string  `json:"id"`
	TaskIdentifier  string  `json:"taskIdentifier"`
	FriendlyID      string  `json:"friendlyId"`
	Status          string  `json:"status"`
	CreatedAt       string  `json:"createdAt"`
	UpdatedAt       string  `json:"updatedAt"`
	StartedAt       *string `json:"startedAt"`
	DelayUntil      *string `json:"delayUntil"`
	QueuedAt        *string `json:"queuedAt"`
	ExpiredAt       *string `json:"expiredAt"`
	CompletedAt     *string `json:"completedAt"`
	IdempotencyKey  *string `json:"idempotencyKey"`
	Number          *string `json:"number,omitempty"`
	IsTest          *string `json:"isTest,omitempty"`
	UsageDurationMs *string `json:"usageDurationMs,omitempty"`
	CostInCents     *string `json:"costInCents,omitempty"`
	BaseCostInCents *string `json:"baseCostInCents,omitempty"`
	TTL             *string `json:"ttl"`
	// The optional columns below are pointers to pointers: nil is a
	// skipped column (absent), a pointer to nil a NULL.
	Payload         **string `json:"payload,omitempty"`
	PayloadType     **string `json:"payloadType,omitempty"`
	Metadata        **string `json:"metadata,omitempty"`
	MetadataType    **string `json:"metadataType,omitempty"`
	Output          **string `json:"output,omitempty"`
	OutputType      **string `json:"outputType,omitempty"`
	RunTags         *string  `json:"runTags,omitempty"`
	Error           **string `json:"error,omitempty"`
	RealtimeStreams *string  `json:"realtimeStreams,omitempty"`
}

// ShapeColumn is a column's entry in the electric-schema header.
type ShapeColumn struct {
	Type    string `json:"type"`
	Dims    int    `json:"dims,omitempty"`
	PKIndex *int   `json:"pk_index,omitempty"`
	NotNull bool   `json:"not_null,omitempty"`
}

// TriggerDevRunShapeSchema is the electric-schema header of the run
// shapes: the types @electric-sql/client parses the text values with.
var TriggerDevRunShapeSchema = func() json.RawMessage {
	pk := 0
	text := ShapeColumn{Type: "text"}
	ts := ShapeColumn{Type: "timestamp"}
	raw, _ := json.Marshal(map[string]ShapeColumn{
		"id": {Type: "text", PKIndex: &pk, NotNull: true}, "taskIdentifier": {Type: "text", NotNull: true},
		"friendlyId": {Type: "text", NotNull: true}, "status": {Type: "text", NotNull: true},
		"createdAt": {Type: "timestamp", NotNull: true}, "updatedAt": {Type: "timestamp", NotNull: true},
		"startedAt": ts, "delayUntil": ts, "queuedAt": ts, "expiredAt": ts, "completedAt": ts,
		"idempotencyKey": text, "ttl": text, "payload": text, "payloadType": text, "metadata": text,
		"metadataType": text, "output": text, "outputType": text,
		"number": {Type: "int4", NotNull: true}, "isTest": {Type: "bool", NotNull: true},
		"usageDurationMs": {Type: "int4", NotNull: true}, "costInCents": {Type: "float8", NotNull: true},
		"baseCostInCents": {Type: "float8", NotNull: true},
		"runTags":         {Type: "text", Dims: 1}, "realtimeStreams": {Type: "text", Dims: 1},
		"error": {Type: "jsonb"},
	})
	return raw
}()
