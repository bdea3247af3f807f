package runs

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/streambatch/streambatch/workflows/flow"
)

// Client starts and signals BatchRuns runs: the activities use it
// to hand enqueued runs over, the API to abort, cancel and wait.
type Client struct {
	c         client.Client
	taskQueue string
	defaults  Input
}

// NewClient wraps a Temporal client. BatchRuns runs on taskQueue;
// defaults gives the Concurrency, MaxAttempts and MaxDuration of the
// workflows it starts.
func NewClient(c client.Client, taskQueue string, defaults Input) *Client {
	return &Client{c: c, taskQueue: taskQueue, defaults: defaults}
}

func (r *Client) start(batchID, env string) (client.StartWorkflowOptions, Input) {
	in := r.defaults
	in.BatchID, in.Env, in.Carried = batchID, env, nil
	return client.StartWorkflowOptions{
		ID:        WorkflowID(batchID),
		TaskQueue: r.taskQueue,
		// A replay starts the batch's runs again after BatchRuns ended.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("runs of batch %s", batchID),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			flow.SearchAttrBatchID.ValueSet(batchID),
			flow.SearchAttrBatchEnv.ValueSet(env),
			flow.SearchAttrBatchState.ValueSet("PROCESSING"),
		),
	}, in
}

// Notify tells the batch's BatchRuns that runs may be waiting, starting
// it if it is not running.
func (r *Client) Notify(ctx context.Context, batchID, env string, hint Hint) error {
	opts, in := r.start(batchID, env)
	if _, err := r.c.SignalWithStartWorkflow(ctx, opts.ID, SignalRunsReady, hint, opts, WorkflowName, in); err != nil {
		return fmt.Errorf("runs: notify runs of %s: %w", batchID, flow.NotReady(err))
	}
	return nil
}

// Wake tells the batch's running BatchRuns that runs may be claimable
// (a slot of the queue its runs wait for was freed); a batch whose
// BatchRuns is not running is left alone (nil error).
func (r *Client) Wake(ctx context.Context, batchID string, hint Hint) error {
	err := r.c.SignalWorkflow(ctx, WorkflowID(batchID), "", SignalRunsReady, hint)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("runs: wake runs of %s: %w", batchID, err)
	}
	return nil
}

// Abort asks the batch's BatchRuns to cancel what runs and abort the batch,
// starting it if needed (so that an abort always ends in the same place).
func (r *Client) Abort(ctx context.Context, batchID, env, reason string) error {
	opts, in := r.start(batchID, env)
	if _, err := r.c.SignalWithStartWorkflow(ctx, opts.ID, SignalAbort, reason, opts, WorkflowName, in); err != nil {
		return fmt.Errorf("runs: abort runs of %s: %w", batchID, flow.NotReady(err))
	}
	return nil
}

// CancelRun asks the batch's running BatchRuns to cancel one run.
func (r *Client) CancelRun(ctx context.Context, batchID string, index int) error {
	if err := r.c.SignalWorkflow(ctx, WorkflowID(batchID), "", SignalCancelRun, index); err != nil {
		return fmt.Errorf("runs: cancel run %d of %s: %w", index, batchID, err)
	}
	return nil
}

// Wait blocks until the batch's BatchRuns ends (following continue-as-new)
// or ctx ends.
func (r *Client) Wait(ctx context.Context, batchID string) (Result, error) {
	var res Result
	if err := r.c.GetWorkflow(ctx, WorkflowID(batchID), "").Get(ctx, &res); err != nil {
		return res, fmt.Errorf("runs: wait for runs of %s: %w", batchID, err)
	}
	return res, nil
}
