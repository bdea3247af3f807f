package client

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/streambatch/streambatch/wire"
)

// Batch is Phase 1's answer and the token that came with it.
type Batch struct {
	wire.CreateBatchResponse
	// PublicAccessToken is the x-trigger-jwt token (read access to the
	// batch, one hour).
	PublicAccessToken string `json:"-"`
}

// CreateBatch creates a batch (Phase 1). Retrying it is safe only with an
// IdempotencyKey; without one a retried create after a lost answer may
// leave an unused batch, which its seal timeout aborts.
func (c *Client) CreateBatch(ctx context.Context, req wire.CreateBatchRequest) (*Batch, error) {
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

// GetBatch returns a batch's status and run counts.
func (c *Client) GetBatch(ctx context.Context, batchID string) (*wire.BatchStatus, error) {
	var b wire.BatchStatus
	if _, err := c.do(ctx, http.MethodGet, "/api/v3/batches/"+url.PathEscape(batchID), nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// AbortBatch aborts a batch: a PENDING one stops taking items, a
// PROCESSING one cancels its unfinished runs. Aborting an aborted batch is
// a no-op, a COMPLETED one an *APIError with status 422.
func (c *Client) AbortBatch(ctx context.Context, batchID, reason string) (*wire.BatchStatus, error) {
	var b wire.BatchStatus
	body := wire.AbortRequest{Reason: reason}
	if _, err := c.do(ctx, http.MethodPost, "/api/v3/batches/"+url.PathEscape(batchID)+"/abort", body, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ListRuns returns one page of up to limit runs (1–1000) after cursor (""
// for the first page).
func (c *Client) ListRuns(ctx context.Context, batchID, cursor string, limit int) (*wire.RunsPage, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p wire.RunsPage
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
func (c *Client) Runs(ctx context.Context, batchID string) iter.Seq2[wire.Run, error] {
	return func(yield func(wire.Run, error) bool) {
		cursor := ""
		for {
			p, err := c.ListRuns(ctx, batchID, cursor, 1000)
			if err != nil {
				yield(wire.Run{}, err)
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

// MissingIndexes asks which indexes are still missing (at most limit
// ranges; 0 means the server's default).
func (c *Client) MissingIndexes(ctx context.Context, batchID string, limit int) (*wire.Missing, error) {
	path := "/api/v3/batches/" + url.PathEscape(batchID) + "/missing"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var m wire.Missing
	if _, err := c.do(ctx, http.MethodGet, path, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}
