// Package worker runs the Temporal worker of streambatch: BatchIngest,
// BatchRuns and their activities on one task queue, with
// MaxConcurrentActivityExecutionSize as the worker-wide bound on chunk
// activities. (The runs themselves execute on the users' task workers.) It
// also registers the search attributes the workflows use.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/activities"
	"github.com/streambatch/streambatch/workflows"
)

// Options configures New.
type Options struct {
	// TaskQueue is the queue to poll.
	TaskQueue string
	// ActivityConcurrency is MaxConcurrentActivityExecutionSize: how many
	// activities this process runs at once (STREAMING_BATCH_INGEST_CONCURRENCY).
	ActivityConcurrency int
	// Identity names the worker in Temporal UI (default: SDK's pid@host).
	Identity string
}

// sdk is the SDK worker options of opts.
func (opts Options) sdk() worker.Options {
	return worker.Options{
		MaxConcurrentActivityExecutionSize: opts.ActivityConcurrency,
		Identity:                           opts.Identity,
		// On stop, running chunk activities get this long to finish.
		WorkerStopTimeout: 30 * time.Second,
	}
}

// New returns a worker with BatchIngest and the activities registered; call
// Run or Start on it.
func New(c client.Client, acts *activities.Activities, opts Options) worker.Worker {
	w := worker.New(c, opts.TaskQueue, opts.sdk())
	w.RegisterWorkflowWithOptions(workflows.BatchIngest, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.BatchRuns, workflow.RegisterOptions{Name: workflows.RunsWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.Sweep, workflow.RegisterOptions{Name: workflows.SweepWorkflowName})
	acts.Register(w)
	return w
}

// ErrNoNamespace reports that the Temporal namespace does not exist.
var ErrNoNamespace = errors.New("the Temporal namespace does not exist")

// errNotVisible reports search attributes registered but not yet listed.
var errNotVisible = errors.New("search attributes registered but not yet visible")

// EnsureSearchAttributes registers BatchId, BatchState and BatchEnv
// (Keyword) in the namespace when they are missing, and returns once the
// namespace lists all three and accepts them in a query (on a server with
// SQL visibility they become usable a moment after registration; starting
// a workflow with them before fails). While the namespace does not exist yet or the server is
// unavailable it retries, for up to wait. It is idempotent and safe to call
// from every process at start-up.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, wait time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	backoff := 200 * time.Millisecond
	for {
		err := ensureOnce(ctx, c, namespace, log)
		if err == nil {
			return nil
		}
		var nsNotFound *serviceerror.NamespaceNotFound
		var notFound *serviceerror.NotFound
		var unavailable *serviceerror.Unavailable
		if !errors.Is(err, errNotVisible) && !errors.As(err, &nsNotFound) && !errors.As(err, &notFound) && !errors.As(err, &unavailable) {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.As(err, &nsNotFound) || errors.As(err, &notFound) {
				return fmt.Errorf("worker: %w: %q (create it: temporal operator namespace create --namespace %s): %w", ErrNoNamespace, namespace, namespace, err)
			}
			return fmt.Errorf("worker: search attributes of %q after %s: %w", namespace, wait, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func ensureOnce(ctx context.Context, c client.Client, namespace string, log *slog.Logger) error {
	op := c.OperatorService()
	have, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("worker: list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, k := range workflows.SearchAttributes {
		if _, ok := have.GetCustomAttributes()[k.GetName()]; !ok {
			missing[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return usable(ctx, c, namespace)
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("worker: add search attributes: %w", err)
	}
	log.Info("registered search attributes", "namespace", namespace, "count", len(missing))
	return errNotVisible // list again until they show
}

// probeQuery uses every search attribute streambatch sets.
const probeQuery = "BatchId = '' AND BatchState = '' AND BatchEnv = ''"

// usable checks that the namespace accepts the attributes, with a count
// query that uses them all: a server with SQL visibility lists new
// attributes at once but maps them (and accepts workflow starts that set
// them) only once its namespace cache has refreshed. A server that denies
// the query (permissions) is not probed further.
func usable(ctx context.Context, c client.Client, namespace string) error {
	_, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: probeQuery})
	var invalid *serviceerror.InvalidArgument
	var unavailable *serviceerror.Unavailable
	switch {
	case errors.As(err, &invalid):
		return fmt.Errorf("%w: %s", errNotVisible, invalid.Message)
	case errors.As(err, &unavailable):
		return err
	}
	return nil
}

// Group is the workers of one process: BatchIngest's queue and BatchRuns'
// own queue, so that a backlog of runs never holds back the workflow tasks
// that take items in and seal batches.
type Group []worker.Worker

// Start starts every worker; on a failure it stops those it started.
func (g Group) Start() error {
	for i, w := range g {
		if err := w.Start(); err != nil {
			for _, started := range g[:i] {
				started.Stop()
			}
			return err
		}
	}
	return nil
}

// Stop stops every worker.
func (g Group) Stop() {
	for _, w := range g {
		w.Stop()
	}
}

// NewGroup returns the workers of a streambatch worker process: one on
// opts.TaskQueue with everything registered (BatchRuns too, for the
// batches started on it before BatchRuns had a queue of its own), and one
// on runsQueue with BatchRuns and the activities.
func NewGroup(c client.Client, acts *activities.Activities, opts Options, runsQueue string) Group {
	main := New(c, acts, opts)
	runs := worker.New(c, runsQueue, opts.sdk())
	runs.RegisterWorkflowWithOptions(workflows.BatchRuns, workflow.RegisterOptions{Name: workflows.RunsWorkflowName})
	acts.Register(runs)
	return Group{main, runs}
}
