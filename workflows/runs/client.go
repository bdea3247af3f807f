package runs

import (
	"context"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/streambatch/streambatch/workflows/flow"
)

// Client starts and signals the workflows that execute batches' runs: the
// activities use it to hand enqueued runs to BatchRuns (Notify), the API
// to tell, abort, cancel and wait, wherever the runs execute (a small
// batch's BatchIngest executes them itself while it runs with BatchState
// PROCESSING; every other batch's BatchRuns).
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
			flow.SearchAttrBatchState.ValueSet(flow.StateProcessing),
		),
	}, in
}

// Notify tells the batch's BatchRuns that runs may be waiting, starting
// it if it is not running. Only a caller that knows the runs are not
// executed by BatchIngest uses it (the ingest activities); others Tell.
func (r *Client) Notify(ctx context.Context, batchID, env string, hint Hint) error {
	opts, in := r.start(batchID, env)
	if _, err := r.c.SignalWithStartWorkflow(ctx, opts.ID, SignalRunsReady, hint, opts, WorkflowName, in); err != nil {
		return fmt.Errorf("runs: notify runs of %s: %w", batchID, flow.NotReady(err))
	}
	return nil
}

// Tell tells the workflow that executes the batch's runs that runs may be
// waiting: the batch's BatchIngest while it executes them itself, else its
// BatchRuns (started if it is not running, as Notify does).
func (r *Client) Tell(ctx context.Context, batchID, env string, hint Hint) error {
	if here, err := r.signalHere(ctx, batchID, SignalRunsReady, hint); here || err != nil {
		return err
	}
	return r.Notify(ctx, batchID, env, hint)
}

// Wake tells the workflow that executes the batch's runs that runs may be
// claimable (a slot of the queue its runs wait for was freed); a batch
// whose runs no workflow executes is left alone (nil error).
func (r *Client) Wake(ctx context.Context, batchID string, hint Hint) error {
	err := r.c.SignalWorkflow(ctx, WorkflowID(batchID), "", SignalRunsReady, hint)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		_, err = r.signalHere(ctx, batchID, SignalRunsReady, hint)
	}
	if err != nil {
		return fmt.Errorf("runs: wake runs of %s: %w", batchID, err)
	}
	return nil
}

// WakeBatchRuns tells the batch's running BatchRuns, and only it, that
// runs may be waiting (nil error when none runs).
func (r *Client) WakeBatchRuns(ctx context.Context, batchID string, hint Hint) error {
	err := r.c.SignalWorkflow(ctx, WorkflowID(batchID), "", SignalRunsReady, hint)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("runs: wake the BatchRuns of %s: %w", batchID, err)
	}
	return nil
}

// Abort asks the workflow that executes the batch's runs to cancel what
// runs and abort the batch: its BatchIngest while it executes them itself,
// else its BatchRuns, started if needed (so that an abort always ends in
// the same place).
func (r *Client) Abort(ctx context.Context, batchID, env, reason string) error {
	if here, err := r.signalHere(ctx, batchID, SignalAbort, reason); here || err != nil {
		return err
	}
	opts, in := r.start(batchID, env)
	// A BatchRuns this starts aborts before its first step: it claims and
	// dispatches nothing (a running one gets the signal).
	in.Carried = &Carried{Abort: reason}
	if _, err := r.c.SignalWithStartWorkflow(ctx, opts.ID, SignalAbort, reason, opts, WorkflowName, in); err != nil {
		return fmt.Errorf("runs: abort runs of %s: %w", batchID, flow.NotReady(err))
	}
	return nil
}

// CancelRun asks the workflow that executes the batch's runs to cancel
// one run.
func (r *Client) CancelRun(ctx context.Context, batchID string, index int) error {
	if here, err := r.signalHere(ctx, batchID, SignalCancelRun, index); here || err != nil {
		return err
	}
	if err := r.c.SignalWorkflow(ctx, WorkflowID(batchID), "", SignalCancelRun, index); err != nil {
		return fmt.Errorf("runs: cancel run %d of %s: %w", index, batchID, err)
	}
	return nil
}

// Wait blocks until the batch's runs have ended (following continue-as-new
// and a hand-over from BatchIngest to BatchRuns) or ctx ends. here is the
// batch row's RunsHere: when false the runs are BatchRuns' (a replay of a
// small batch whose BatchIngest executed them runs them there, and that
// BatchIngest's result is history), so BatchRuns is waited for, unless it
// does not exist yet (a hand-over clears RunsHere before it starts
// BatchRuns): then BatchIngest is followed through its hand-over.
func (r *Client) Wait(ctx context.Context, batchID string, here bool) (Result, error) {
	if !here {
		res, err := r.waitBatchRuns(ctx, batchID)
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			return res, err
		}
	}
	var ingest flow.RunsExecuted
	err := r.c.GetWorkflow(ctx, batchID, "").Get(ctx, &ingest)
	if x := ingest.Executed; err == nil && x != nil && !x.HandedOver {
		return Result{BatchID: batchID, Status: x.Status, RunCounts: x.RunCounts, Segments: 1}, nil
	}
	if ctx.Err() != nil {
		return Result{}, fmt.Errorf("runs: wait for runs of %s: %w", batchID, ctx.Err())
	}
	return r.waitBatchRuns(ctx, batchID)
}

// waitBatchRuns waits for the batch's BatchRuns to end.
func (r *Client) waitBatchRuns(ctx context.Context, batchID string) (Result, error) {
	var res Result
	if err := r.c.GetWorkflow(ctx, WorkflowID(batchID), "").Get(ctx, &res); err != nil {
		return res, fmt.Errorf("runs: wait for runs of %s: %w", batchID, err)
	}
	return res, nil
}

// signalHere signals the batch's BatchIngest when it executes the batch's
// runs itself (it runs, with BatchState PROCESSING: changeRunsHere of
// workflows/ingest). here is false when it does not, or ended before the
// signal reached it: the runs are then BatchRuns'.
func (r *Client) signalHere(ctx context.Context, batchID, signal string, arg any) (here bool, err error) {
	d, err := r.c.DescribeWorkflowExecution(ctx, batchID, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("runs: find the workflow of %s: %w", batchID, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || batchState(info.GetSearchAttributes()) != flow.StateProcessing {
		return false, nil
	}
	err = r.c.SignalWorkflow(ctx, batchID, info.GetExecution().GetRunId(), signal, arg)
	switch {
	case errors.As(err, &nf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("runs: signal %s to %s: %w", signal, batchID, err)
	}
	return true, nil
}

// batchState reads the BatchState search attribute ("" when unset).
func batchState(sa *commonpb.SearchAttributes) string {
	p := sa.GetIndexedFields()[flow.SearchAttrBatchState.GetName()]
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}
