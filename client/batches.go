package client

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CreateBatchRequest is Phase 1's body.
type CreateBatchRequest struct {
	// RunCount is the number of items the stream will carry (required).
	RunCount int `json:"runCount"`
	// TaskIdentifiers optionally lists the tasks the items use.
	TaskIdentifiers []string `json:"taskIdentifiers,omitempty"`
	// IdempotencyKey makes a repeated create return the first batch
	// (Batch.IsCached) instead of a new one.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// ParentRunID and ResumeParentOnCompletion are stored with the batch.
	ParentRunID              string `json:"parentRunId,omitempty"`
	ResumeParentOnCompletion bool   `json:"resumeParentOnCompletion,omitempty"`
}

// Batch is Phase 1's answer.
type Batch struct {
	ID             string `json:"id"`
	RunCount       int    `json:"runCount"`
	IsCached       bool   `json:"isCached"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// PublicAccessToken is the x-trigger-jwt token (read access to the
	// batch, one hour).
	PublicAccessToken string `json:"-"`
}

// CreateBatch creates a batch (Phase 1). Retrying it is safe only with an
// IdempotencyKey; without one a retried create after a lost answer may
// leave an unused batch, which its seal timeout aborts.
func (c *Client) CreateBatch(ctx context.Context, req CreateBatchRequest) (*Batch, error) {
	if req.RunCount < 1 {
		return nil, errors.New("streambatch: CreateBatch needs RunCount ≥ 1")
	}
	var b Batch
	resp, err := c.do(ctx, http.MethodPost, "/api/v3/batches", req, &b)
	if err != nil {
		return nil, err
	}
	b.PublicAccessToken = resp.Header.Get("x-trigger-jwt")
	return &b, nil
}

// BatchStatus is GET /api/v3/batches/:id.
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
	AbortReason   string     `json:"abortReason,omitempty"`
	CompletedAt   *time.Time `json:"completedAt,omitempty"`
	// RunCounts maps run statuses (QUEUED, DELAYED, EXECUTING, COMPLETED,
	// FAILED, CANCELED, EXPIRED, TIMED_OUT) to counts.
	RunCounts map[string]int `json:"runCounts"`
	Replays   int            `json:"replays,omitempty"`
	// RunsWaitingForWorker is how many runs were dispatched to their task
	// queue and not yet started by a task worker (refreshed at most a
	// minute late), WaitingForWorkerSince when the longest-waiting was
	// dispatched. Runs that wait long mean no worker serves their task
	// queue (runs.<env>[.<queue>]) or registered their task.
	RunsWaitingForWorker  int        `json:"runsWaitingForWorker,omitempty"`
	WaitingForWorkerSince *time.Time `json:"waitingForWorkerSince,omitempty"`
	WorkflowID            string     `json:"workflowId"`
	RunsWorkflowID        string     `json:"runsWorkflowId"`
}

// Terminal reports whether the batch is COMPLETED or ABORTED.
func (b *BatchStatus) Terminal() bool { return b.Status == "COMPLETED" || b.Status == "ABORTED" }

// GetBatch returns a batch's status and run counts.
func (c *Client) GetBatch(ctx context.Context, batchID string) (*BatchStatus, error) {
	var b BatchStatus
	if _, err := c.do(ctx, http.MethodGet, "/api/v3/batches/"+url.PathEscape(batchID), nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// AbortBatch aborts a batch: a PENDING one stops taking items, a
// PROCESSING one cancels its unfinished runs. Aborting an aborted batch is
// a no-op, a COMPLETED one an *APIError with status 422.
func (c *Client) AbortBatch(ctx context.Context, batchID, reason string) (*BatchStatus, error) {
	var b BatchStatus
	body := map[string]string{}
	if reason != "" {
		body["reason"] = reason
	}
	if _, err := c.do(ctx, http.MethodPost, "/api/v3/batches/"+url.PathEscape(batchID)+"/abort", body, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Run is one run of a batch.
type Run struct {
	ID    string `json:"id"`
	Index int    `json:"index"`
	Task  string `json:"task"`
	// Status is QUEUED, DELAYED, EXECUTING, COMPLETED, FAILED, CANCELED,
	// EXPIRED or TIMED_OUT.
	Status         string          `json:"status"`
	PayloadType    string          `json:"payloadType"`
	Payload        *string         `json:"payload,omitempty"`
	Options        json.RawMessage `json:"options,omitempty"`
	QueueTimestamp time.Time       `json:"queueTimestamp"`
	Error          *RunError       `json:"error,omitempty"`
	// Output is the task's result as JSON text (an object key when
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
func (r *Run) Final() bool {
	switch r.Status {
	case "QUEUED", "DELAYED", "EXECUTING":
		return false
	}
	return true
}

// RunError is a failed run's error.
type RunError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RunsPage is one page of runs, ordered by index.
type RunsPage struct {
	Data       []Run   `json:"data"`
	NextCursor *string `json:"nextCursor,omitempty"`
}

// ListRuns returns one page of up to limit runs (1–1000) after cursor (""
// for the first page).
func (c *Client) ListRuns(ctx context.Context, batchID, cursor string, limit int) (*RunsPage, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p RunsPage
	path := "/api/v3/batches/" + url.PathEscape(batchID) + "/runs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if _, err := c.do(ctx, http.MethodGet, path, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Runs iterates over every run of a batch, page by page.
func (c *Client) Runs(ctx context.Context, batchID string) iter.Seq2[Run, error] {
	return func(yield func(Run, error) bool) {
		cursor := ""
		for {
			p, err := c.ListRuns(ctx, batchID, cursor, 1000)
			if err != nil {
				yield(Run{}, err)
				return
			}
			for _, r := range p.Data {
				if !yield(r, nil) {
					return
				}
			}
			if p.NextCursor == nil {
				return
			}
			cursor = *p.NextCursor
		}
	}
}

// Missing is GET /api/v3/batches/:id/missing: the index ranges [start, end)
// the server has not accepted yet.
type Missing struct {
	ID            string   `json:"id"`
	Status        string   `json:"status"`
	RunCount      int      `json:"runCount"`
	AcceptedCount int      `json:"acceptedCount"`
	Missing       [][2]int `json:"missing"`
	More          bool     `json:"more,omitempty"`
}

// MissingIndexes asks which indexes are still missing (at most limit
// ranges; 0 means the server's default).
func (c *Client) MissingIndexes(ctx context.Context, batchID string, limit int) (*Missing, error) {
	path := "/api/v3/batches/" + url.PathEscape(batchID) + "/missing"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var m Missing
	if _, err := c.do(ctx, http.MethodGet, path, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// contains reports whether i is in one of the sorted ranges.
func contains(ranges [][2]int, i int) bool {
	lo, hi := 0, len(ranges)
	for lo < hi {
		m := (lo + hi) / 2
		switch r := ranges[m]; {
		case i < r[0]:
			hi = m
		case i >= r[1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}
