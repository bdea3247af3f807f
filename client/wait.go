package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"

	"github.com/streambatch/streambatch/wire"
)

// longPoll is how long one GET ?wait= call may block on the server (at
// most 5 minutes there).
const longPoll = 30 * time.Second

// WaitBatch blocks until the batch is COMPLETED or ABORTED, or ctx ends,
// with long polls (GET /api/v3/batches/:id?wait=30s): the server answers
// when the batch ends, so waiting costs one request per 30 s. progress, when
// not nil, is called with every status seen.
func (c *Client) WaitBatch(ctx context.Context, batchID string, progress func(*wire.BatchStatus)) (*wire.BatchStatus, error) {
	return c.WatchBatch(ctx, batchID, longPoll, progress)
}

// WatchBatch is WaitBatch with long polls of at most interval (rounded to
// whole seconds, at least one), for progress displays: it reports the
// status at least every interval, and returns as soon as the batch ends.
func (c *Client) WatchBatch(ctx context.Context, batchID string, interval time.Duration, progress func(*wire.BatchStatus)) (*wire.BatchStatus, error) {
	interval = max(interval.Round(time.Second), time.Second)
	for {
		wait := interval
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, max(time.Until(d), 0).Round(time.Second))
		}
		var b wire.BatchStatus
		path := "/api/v3/batches/" + url.PathEscape(batchID) + "?wait=" + wait.String()
		if _, err := c.do(ctx, http.MethodGet, path, nil, &b); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(&b)
		}
		if b.Terminal() {
			return &b, nil
		}
		if err := ctx.Err(); err != nil {
			return &b, err
		}
	}
}

// TriggerBatchAndWait triggers a batch (CreateBatch + StreamItems), waits
// for it to end and returns its status and its runs, with outputs and
// errors, as an iterator in index order (fetched page by page as it is
// consumed).
func (c *Client) TriggerBatchAndWait(ctx context.Context, req wire.CreateBatchRequest, items iter.Seq2[Item, error], opts ...StreamOption) (*wire.BatchStatus, iter.Seq2[wire.Run, error], error) {
	res, err := c.TriggerBatch(ctx, req, items, opts...)
	if err != nil {
		return nil, nil, err
	}
	b, err := c.WaitBatch(ctx, res.Batch.ID, nil)
	if err != nil {
		return b, nil, err
	}
	return b, c.Runs(ctx, res.Batch.ID), nil
}

// CancelRun cancels one run: at once when no task worker holds it,
// through its activity's cancellation when one does. It returns the run as
// it is afterwards.
func (c *Client) CancelRun(ctx context.Context, runID string) (*wire.Run, error) {
	var r wire.Run
	if _, err := c.do(ctx, http.MethodPost, "/api/v3/runs/"+url.PathEscape(runID)+"/cancel", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ReplayBatch runs a COMPLETED batch's failed, expired and timed-out runs
// again; the batch is PROCESSING until they end.
func (c *Client) ReplayBatch(ctx context.Context, batchID string) (*wire.Replay, error) {
	var r wire.Replay
	if _, err := c.do(ctx, http.MethodPost, "/api/v3/batches/"+url.PathEscape(batchID)+"/replay", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
