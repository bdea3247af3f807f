package wire

import (
	"encoding/json"
	"time"
)

// The answers of the trigger.dev read routes, shaped after the zod schemas
// of @trigger.dev/core 4.8 (schemas/api.ts, schemas/common.ts), which the
// unchanged SDK parses.

// TriggerDevBatch is RetrieveBatchResponse (GET /api/v1/batches/:batchId)
// and RetrieveBatchV2Response (GET /api/v2/batches/:batchId). The server
// encodes it without Processing.Errors and Runs (it can hold a million ids)
// and writes those after it, as their rows come.
type TriggerDevBatch struct {
	ID             string                `json:"id"`
	Status         string                `json:"status"`
	IdempotencyKey *string               `json:"idempotencyKey,omitempty"`
	CreatedAt      time.Time             `json:"createdAt"`
	UpdatedAt      time.Time             `json:"updatedAt"`
	RunCount       int                   `json:"runCount"`
	Processing     *TriggerDevProcessing `json:"processing,omitempty"`
	// Runs are the ids of the batch's runs, in index order.
	Runs []string `json:"runs,omitempty"`
}

// TriggerDevProcessing is RetrieveBatchV2Response.processing.
type TriggerDevProcessing struct {
	CompletedAt *time.Time                  `json:"completedAt,omitempty"`
	Errors      []TriggerDevProcessingError `json:"errors"`
}

// TriggerDevProcessingError is an item that could not become a run.
type TriggerDevProcessingError struct {
	Index          int    `json:"index"`
	TaskIdentifier string `json:"taskIdentifier"`
	Error          string `json:"error"`
	ErrorCode      string `json:"errorCode,omitempty"`
}

// TriggerDevRun holds CommonRunFields; TriggerDevRetrievedRun and
// TriggerDevListedRun extend it.
type TriggerDevRun struct {
	ID             string     `json:"id"`
	Status         string     `json:"status"`
	TaskIdentifier string     `json:"taskIdentifier"`
	IdempotencyKey string     `json:"idempotencyKey,omitempty"`
	IsQueued       bool       `json:"isQueued"`
	IsExecuting    bool       `json:"isExecuting"`
	IsWaiting      bool       `json:"isWaiting"`
	IsCompleted    bool       `json:"isCompleted"`
	IsSuccess      bool       `json:"isSuccess"`
	IsFailed       bool       `json:"isFailed"`
	IsCancelled    bool       `json:"isCancelled"`
	IsTest         bool       `json:"isTest"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	StartedAt      *time.Time `json:"startedAt,omitempty"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty"`
	DelayedUntil   *time.Time `json:"delayedUntil,omitempty"`
	TTL            string     `json:"ttl,omitempty"`
	// ExpiredAt is when an EXPIRED run expired (its finish).
	ExpiredAt       *time.Time      `json:"expiredAt,omitempty"`
	Tags            []string        `json:"tags"`
	CostInCents     float64         `json:"costInCents"`
	BaseCostInCents float64         `json:"baseCostInCents"`
	DurationMs      int64           `json:"durationMs"`
	Metadata        json.RawMessage `json:"metadata,omitempty"`
}

// TriggerDevRetrievedRun is RetrieveRunResponse (GET /api/v3/runs/:runId).
// A payload or output kept in the object store is given as a presigned URL
// the SDK fetches itself.
type TriggerDevRetrievedRun struct {
	TriggerDevRun
	Depth               int                        `json:"depth"`
	TriggerFunction     string                     `json:"triggerFunction"`
	BatchID             string                     `json:"batchId,omitempty"`
	Payload             json.RawMessage            `json:"payload,omitempty"`
	PayloadPresignedURL string                     `json:"payloadPresignedUrl,omitempty"`
	Output              json.RawMessage            `json:"output,omitempty"`
	OutputPresignedURL  string                     `json:"outputPresignedUrl,omitempty"`
	Error               *TriggerDevSerializedError `json:"error,omitempty"`
	RelatedRuns         struct{}                   `json:"relatedRuns"`
	AttemptCount        int                        `json:"attemptCount"`
}

// TriggerDevSerializedError is a retrieved run's error.
type TriggerDevSerializedError struct {
	Message string `json:"message"`
	Name    string `json:"name,omitempty"`
}

// TriggerDevListedRun is ListRunResponseItem.
type TriggerDevListedRun struct {
	TriggerDevRun
	Env TriggerDevEnv `json:"env"`
}

// TriggerDevEnv is the environment a listed run belongs to.
type TriggerDevEnv struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// TriggerDevRunsPage is ListRunResponse (GET /api/v1/runs?filter[batch]=).
type TriggerDevRunsPage struct {
	Data       []TriggerDevListedRun `json:"data"`
	Pagination TriggerDevPagination  `json:"pagination"`
}

// TriggerDevPagination names the runs a page ends and starts with: Next
// whenever runs remain, Previous on any page but the first.
type TriggerDevPagination struct {
	Next     string `json:"next,omitempty"`
	Previous string `json:"previous,omitempty"`
}

// TriggerDevResult is one TaskRunExecutionResult of GET
// /api/v1/batches/:batchId/results.
type TriggerDevResult struct {
	OK             bool                 `json:"ok"`
	ID             string               `json:"id"`
	Output         *string              `json:"output,omitempty"`
	OutputType     string               `json:"outputType,omitempty"`
	Error          *TriggerDevTaskError `json:"error,omitempty"`
	TaskIdentifier string               `json:"taskIdentifier"`
}

// TriggerDevTaskError is TaskRunBuiltInError.
type TriggerDevTaskError struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Message    string `json:"message"`
	StackTrace string `json:"stackTrace"`
}

// TriggerDevQueue is QueueItem (schemas/queues.ts), a V1 queue: the answer
// of GET /api/v1/queues/:queue and of pause, override and reset, and an
// element of the list. ConcurrencyLimit and the Concurrency fields are
// null when there is none (the schema makes them nullable, not optional).
type TriggerDevQueue struct {
	ID string `json:"id"`
	// Name is the queue's name, a task's own queue ("task/<task>") by its
	// task identifier, with Type "task"; "custom" otherwise.
	Name    string `json:"name"`
	Type    string `json:"type"`
	Running int    `json:"running"`
	Queued  int    `json:"queued"`
	Paused  bool   `json:"paused"`
	// ConcurrencyLimit is the limit in force.
	ConcurrencyLimit *int                       `json:"concurrencyLimit"`
	Version          string                     `json:"version"`
	Concurrency      TriggerDevQueueConcurrency `json:"concurrency"`
	// ReleaseConcurrencyOnWaitpoint is always true: trigger.dev still
	// sends it for older clients.
	ReleaseConcurrencyOnWaitpoint bool `json:"releaseConcurrencyOnWaitpoint"`
}

// TriggerDevQueueConcurrency is QueueItem.concurrency: the limit in force
// (Current), the one the runs named (Base) and the API's override.
type TriggerDevQueueConcurrency struct {
	Current      *int       `json:"current"`
	Base         *int       `json:"base"`
	Override     *int       `json:"override"`
	OverriddenAt *time.Time `json:"overriddenAt"`
	OverriddenBy *string    `json:"overriddenBy"`
}

// TriggerDevQueuePage is the offset page of GET /api/v1/queues.
type TriggerDevQueuePage struct {
	Data       []TriggerDevQueue     `json:"data"`
	Pagination TriggerDevOffsetPages `json:"pagination"`
}

// TriggerDevOffsetPages is an offset page's position (OffsetLimitPage).
type TriggerDevOffsetPages struct {
	CurrentPage int `json:"currentPage"`
	TotalPages  int `json:"totalPages"`
	Count       int `json:"count"`
}
