package api

import (
	"encoding/json"
	"time"
)

// Wire types of the trigger.dev read routes, shaped after the zod schemas
// of @trigger.dev/core 4.8 (schemas/api.ts, schemas/common.ts), which the
// unchanged SDK parses.

// tdBatch is RetrieveBatchResponse / RetrieveBatchV2Response; Runs is
// written by the handler (it can hold a million ids).
type tdBatch struct {
	ID             string        `json:"id"`
	Status         string        `json:"status"`
	IdempotencyKey *string       `json:"idempotencyKey,omitempty"`
	CreatedAt      time.Time     `json:"createdAt"`
	UpdatedAt      time.Time     `json:"updatedAt"`
	RunCount       int           `json:"runCount"`
	Processing     *tdProcessing `json:"processing,omitempty"`
}

// tdProcessing is RetrieveBatchV2Response.processing.
type tdProcessing struct {
	CompletedAt *time.Time          `json:"completedAt,omitempty"`
	Errors      []tdProcessingError `json:"errors"`
}

type tdProcessingError struct {
	Index          int    `json:"index"`
	TaskIdentifier string `json:"taskIdentifier"`
	Error          string `json:"error"`
	ErrorCode      string `json:"errorCode,omitempty"`
}

// tdRun holds CommonRunFields; tdRetrievedRun and tdListedRun extend it.
type tdRun struct {
	ID              string          `json:"id"`
	Status          string          `json:"status"`
	TaskIdentifier  string          `json:"taskIdentifier"`
	IdempotencyKey  string          `json:"idempotencyKey,omitempty"`
	IsQueued        bool            `json:"isQueued"`
	IsExecuting     bool            `json:"isExecuting"`
	IsWaiting       bool            `json:"isWaiting"`
	IsCompleted     bool            `json:"isCompleted"`
	IsSuccess       bool            `json:"isSuccess"`
	IsFailed        bool            `json:"isFailed"`
	IsCancelled     bool            `json:"isCancelled"`
	IsTest          bool            `json:"isTest"`
	CreatedAt       time.Time       `json:"createdAt"`
	UpdatedAt       time.Time       `json:"updatedAt"`
	StartedAt       *time.Time      `json:"startedAt,omitempty"`
	FinishedAt      *time.Time      `json:"finishedAt,omitempty"`
	DelayedUntil    *time.Time      `json:"delayedUntil,omitempty"`
	TTL             string          `json:"ttl,omitempty"`
	Tags            []string        `json:"tags"`
	CostInCents     float64         `json:"costInCents"`
	BaseCostInCents float64         `json:"baseCostInCents"`
	DurationMs      int64           `json:"durationMs"`
	Metadata        json.RawMessage `json:"metadata,omitempty"`
}

// tdRetrievedRun is RetrieveRunResponse.
type tdRetrievedRun struct {
	tdRun
	Depth               int                `json:"depth"`
	TriggerFunction     string             `json:"triggerFunction"`
	BatchID             string             `json:"batchId,omitempty"`
	Payload             json.RawMessage    `json:"payload,omitempty"`
	PayloadPresignedURL string             `json:"payloadPresignedUrl,omitempty"`
	Output              json.RawMessage    `json:"output,omitempty"`
	OutputPresignedURL  string             `json:"outputPresignedUrl,omitempty"`
	Error               *tdSerializedError `json:"error,omitempty"`
	RelatedRuns         struct{}           `json:"relatedRuns"`
	AttemptCount        int                `json:"attemptCount"`
}

type tdSerializedError struct {
	Message string `json:"message"`
	Name    string `json:"name,omitempty"`
}

// tdListedRun is ListRunResponseItem.
type tdListedRun struct {
	tdRun
	Env tdEnv `json:"env"`
}

type tdEnv struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// tdRunsPage is ListRunResponse.
type tdRunsPage struct {
	Data       []tdListedRun `json:"data"`
	Pagination struct {
		Next     string `json:"next,omitempty"`
		Previous string `json:"previous,omitempty"`
	} `json:"pagination"`
}

// tdResult is one TaskRunExecutionResult of a batch's results.
type tdResult struct {
	OK             bool         `json:"ok"`
	ID             string       `json:"id"`
	Output         *string      `json:"output,omitempty"`
	OutputType     string       `json:"outputType,omitempty"`
	Error          *tdTaskError `json:"error,omitempty"`
	TaskIdentifier string       `json:"taskIdentifier"`
}

// tdTaskError is TaskRunBuiltInError.
type tdTaskError struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Message    string `json:"message"`
	StackTrace string `json:"stackTrace"`
}
