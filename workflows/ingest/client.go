package ingest

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/workflows/flow"
)

// ErrClosed reports that a batch's workflow has already finished (the batch
// is sealed or aborted), so it takes no more chunks.
var ErrClosed = errors.New("batch workflow has finished")

// Client is the API side's handle on batch workflows.
type Client struct {
	c         client.Client
	taskQueue string
}

// NewClient wraps a Temporal client; workflows run on taskQueue.
func NewClient(c client.Client, taskQueue string) *Client {
	return &Client{c: c, taskQueue: taskQueue}
}

func (c *Client) startOptions(in Input) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:        in.BatchID,
		TaskQueue: c.taskQueue,
		// A chunk that arrives after the batch finished must not start a
		// new run with the same id.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("batch %s: %d runs in %s", in.BatchID, in.RunCount, in.Env),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			flow.SearchAttrBatchID.ValueSet(in.BatchID),
			flow.SearchAttrBatchEnv.ValueSet(in.Env),
			flow.SearchAttrBatchState.ValueSet(StateReceiving),
		),
	}
}

// Start starts the batch's workflow; starting a running one is a no-op, a
// finished one ErrClosed. The API does not: the first chunk starts it
// (SignalChunk); the sweeper starts the workflow of a batch past its seal
// deadline that never received one, which then aborts it.
func (c *Client) Start(ctx context.Context, in Input) error {
	opts := c.startOptions(in)
	// Without it the SDK answers a finished workflow's id (its reuse
	// policy rejects a new run) with a handle on that run and no error; a
	// running one is no error either way (its conflict policy uses it).
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	_, err := c.c.ExecuteWorkflow(ctx, opts, WorkflowName, in)
	if err != nil {
		return c.wrap("start", in.BatchID, err)
	}
	return nil
}

// SignalChunk delivers a chunk with SignalWithStart: durable once it
// returns, and it works while no worker runs. A finished workflow gives
// ErrClosed.
func (c *Client) SignalChunk(ctx context.Context, in Input, ch batch.ChunkRef) error {
	_, err := c.c.SignalWithStartWorkflow(ctx, in.BatchID, SignalItems, ch, c.startOptions(in), WorkflowName, in)
	if err != nil {
		return c.wrap("signal chunk to", in.BatchID, err)
	}
	return nil
}

// Progress queries the workflow's progress.
func (c *Client) Progress(ctx context.Context, batchID string) (Progress, error) {
	var p Progress
	v, err := c.c.QueryWorkflow(ctx, batchID, "", QueryProgress)
	if err != nil {
		return p, c.wrap("query", batchID, err)
	}
	return p, v.Get(&p)
}

// Wait blocks until the workflow finishes (following continue-as-new) or
// ctx ends, and returns its result.
func (c *Client) Wait(ctx context.Context, batchID string) (Result, error) {
	var r Result
	if err := c.c.GetWorkflow(ctx, batchID, "").Get(ctx, &r); err != nil {
		return r, c.wrap("wait for", batchID, err)
	}
	return r, nil
}

// Abort signals the workflow to abort the batch.
func (c *Client) Abort(ctx context.Context, batchID, reason string) error {
	if err := c.c.SignalWorkflow(ctx, batchID, "", SignalAbort, reason); err != nil {
		return c.wrap("signal abort to", batchID, err)
	}
	return nil
}

func (c *Client) wrap(op, batchID string, err error) error {
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return fmt.Errorf("ingest: %s %s: %w", op, batchID, ErrClosed)
	}
	return fmt.Errorf("ingest: %s %s: %w", op, batchID, flow.NotReady(err))
}
