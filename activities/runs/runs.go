// Package runs implements the run-execution flow's activities, the local
// activities of BatchRuns: DispatchStep (record outcomes, claim runs),
// FinishRuns, ReconcileAttempts, NotifyParent (and ParentNotified, which
// histories without changeCheckedParent replay), HandOver (BatchIngest's,
// for runs it executed itself). Each is idempotent, so
// Temporal may retry it at will. The runs themselves are activities of the
// users' task workers (package tasks), not of this package.
//
// It depends on the store and blob packages through the small interfaces
// below and on workflows/runs for names and types. It holds no workflow
// code and must not import another flow's activities.
package runs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/codec"
	"github.com/streambatch/streambatch/internal/metrics"
	"github.com/streambatch/streambatch/internal/store"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

// Execution is the part of store.Store that run execution uses.
type Execution interface {
	DispatchStep(ctx context.Context, st store.Step) (store.StepResult, error)
	ReconcileAttempts(ctx context.Context, batchID, owner string, starts []store.RunStart) error
	CompleteBatch(ctx context.Context, id string) (store.Batch, bool, error)
	AbortBatch(ctx context.Context, id, reason string, sealedToo bool) (store.Batch, error)
	RunCounts(ctx context.Context, id string) (map[batch.RunStatus]int, error)
	MarkParentNotified(ctx context.Context, id string) (bool, error)
	MarkParentRefused(ctx context.Context, id, reason string) error
	GetRun(ctx context.Context, batchID string, index int) (store.Run, error)
	ClearRunsHere(ctx context.Context, id string) error
}

// Histories reads BatchRuns' own pending activities and history (a
// client.Client).
type Histories interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	GetWorkflowHistory(ctx context.Context, workflowID, runID string, isLongPoll bool, filterType enumspb.HistoryEventFilterType) client.HistoryEventIterator
}

// Parents reads and signals batches' parent workflows (a client.Client).
type Parents interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	WorkflowService() workflowservice.WorkflowServiceClient
}

// Waker signals a batch's running BatchRuns that runs may be claimable
// (*runs.Client).
type Waker interface {
	Wake(ctx context.Context, batchID string, hint contract.Hint) error
}

// Starter starts or wakes a batch's BatchRuns (*runs.Client): HandOver
// starts it for the runs BatchIngest hands over; FinishRuns, when
// BatchIngest executed the runs, wakes one that a hint raced into starting
// meanwhile, so that it sees the batch ended and ends too.
type Starter interface {
	Notify(ctx context.Context, batchID, env string, hint contract.Hint) error
	WakeBatchRuns(ctx context.Context, batchID string, hint contract.Hint) error
}

// Objects is the part of blob.Store run execution uses: outputs are
// offloaded, stored payloads presigned.
type Objects interface {
	Put(ctx context.Context, key, contentType string, body io.ReadSeeker, size int64) error
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Activities holds the dependencies of the run-execution activities.
// Register it with Register.
type Activities struct {
	// Exec is the run-execution part of the store.
	Exec    Execution
	Objects Objects
	// Temporal reads BatchRuns' pending activities and history (nil: runs
	// never show EXECUTING and attempt counts stay lower bounds).
	Temporal Histories
	// OutputOffloadThreshold: run outputs this size or larger are stored in
	// S3 (0: never).
	OutputOffloadThreshold int
	// RunDefaultTTL is the schedule-to-start timeout of runs whose item
	// sets no ttl: how long a dispatched run may wait for a task worker
	// before it ends EXPIRED (0: for ever).
	RunDefaultTTL time.Duration
	// Parents describes and signals batches' parent workflows and Keys
	// encrypts the signal under the batch's environment's key
	// (NotifyParent; nil: no parent is ever signalled).
	Parents Parents
	Keys    *codec.Keys
	// Metrics records attempt durations and failures (nil: none).
	Metrics *metrics.Metrics
	// Waker signals the batches that waited for a queue whose slots a
	// DispatchStep freed (nil: they find the slots after their fallback
	// timer).
	Waker Waker
	// Starter starts BatchRuns for the runs BatchIngest hands over
	// (HandOver; nil: HandOver fails, and BatchIngest retries it) and
	// wakes one BatchIngest's runs raced with (FinishRuns; nil: none).
	Starter Starter
	// Log reports signals that failed (nil: none are reported).
	Log *slog.Logger
	// Aside is shared with the BatchRuns workflow of the same worker
	// (contract.Workflow.Aside): DispatchStep sets the claimed runs' payloads
	// aside there so that each enters the history once. The worker sets it
	// when it registers the flow.
	Aside *contract.Aside
	// Slices names the sliced tasks and their slice sizes
	// (STREAMBATCH_SLICED_TASKS; nil: none).
	Slices Slices
	// PayloadRefs sends large payloads by reference (nil: every payload
	// inline).
	PayloadRefs *PayloadRefs
}

// Register registers the activities under their contract names, on every
// worker that runs BatchRuns: they are its local activities.
func (a *Activities) Register(r interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	r.RegisterActivityWithOptions(a.DispatchStep, activity.RegisterOptions{Name: contract.ActivityDispatchStep})
	r.RegisterActivityWithOptions(a.FinishRuns, activity.RegisterOptions{Name: contract.ActivityFinishRuns})
	r.RegisterActivityWithOptions(a.ReconcileAttempts, activity.RegisterOptions{Name: contract.ActivityReconcileAttempts})
	r.RegisterActivityWithOptions(a.ParentNotified, activity.RegisterOptions{Name: contract.ActivityParentNotified})
	r.RegisterActivityWithOptions(a.NotifyParent, activity.RegisterOptions{Name: contract.ActivityNotifyParent})
	r.RegisterActivityWithOptions(a.HandOver, activity.RegisterOptions{Name: contract.ActivityHandOver})
}

// errNoStarter reports a HandOver on a worker wired without a Starter.
var errNoStarter = errors.New("runs: no Starter to hand runs over with")

// HandOver starts the batch's BatchRuns from in.From (or signals the one
// that runs): the workflow that executed the runs itself hands the rest
// over.
func (a *Activities) HandOver(ctx context.Context, in contract.HandOverInput) (err error) {
	defer a.observe(contract.ActivityHandOver, time.Now(), &err)
	if a.Starter == nil {
		return errNoStarter
	}
	// The batch's status answer names BatchRuns from now on.
	if err := a.Exec.ClearRunsHere(ctx, in.BatchID); err != nil {
		return err
	}
	return a.Starter.Notify(ctx, in.BatchID, in.Env, contract.HintFrom(in.From))
}

func (a *Activities) observe(name string, start time.Time, err *error) {
	a.Metrics.Activity(name, time.Since(start), *err)
}
