// Package worker builds the Temporal workers of streambatch and registers
// each flow on its task queues: ingest (BatchIngest and its activities)
// and the sweeper on the main queue, whose MaxConcurrentActivityExecutionSize
// is the worker-wide bound on chunk activities; run execution (BatchRuns
// and its local activities) on its own queue, and on the main queue for
// the BatchRuns workflows started there by releases without that queue,
// which still run there. The runs themselves execute on
// the users' task workers. It also registers the search attributes the
// workflows use and keeps the sweeper's schedule.
//
// It holds no flow logic: the workflows live in workflows/<flow>, the
// activities in activities/<flow>.
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

	ingestact "github.com/streambatch/streambatch/activities/ingest"
	runsact "github.com/streambatch/streambatch/activities/runs"
	sweepact "github.com/streambatch/streambatch/activities/sweep"
	"github.com/streambatch/streambatch/workflows/flow"
	"github.com/streambatch/streambatch/workflows/ingest"
	"github.com/streambatch/streambatch/workflows/runs"
	"github.com/streambatch/streambatch/workflows/sweep"
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

// sdk is the SDK worker options of opts. Pollers are the SDK's two per
// kind: autoscaling ones shortened a burst of new batches' wait for their
// first workflow task on the dev server but cost the real server 3 x its
// CPU per small batch under load (docs/performance.md, "the worker's
// pollers").
func (opts Options) sdk() worker.Options {
	return worker.Options{
		MaxConcurrentActivityExecutionSize: opts.ActivityConcurrency,
		Identity:                           opts.Identity,
		// On stop, running chunk activities get this long to finish.
		WorkerStopTimeout: 30 * time.Second,
	}
}

// Flows holds each flow's activities, with their dependencies.
type Flows struct {
	Ingest *ingestact.Activities
	Runs   *runsact.Activities
	Sweep  *sweepact.Activities
}

// New returns the worker of the main queue (opts.TaskQueue): ingest, the
// sweeper, and BatchRuns for the workflows that run on this queue (started
// by releases without BatchRuns' own queue). Call Run or Start on it.
func New(c client.Client, flows Flows, opts Options) worker.Worker {
	w := worker.New(c, opts.TaskQueue, opts.sdk())
	registerRuns(w, flows.Runs)
	registerIngest(w, flows.Ingest, flows.Runs.Aside)
	registerSweep(w, flows.Sweep)
	return w
}

// registerIngest registers BatchIngest and its activities (it runs some of
// them as local activities, so they belong on its worker). BatchIngest
// executes small batches' runs with the run flow's executor, whose local
// activities registerRuns put on the same worker, sharing aside.
func registerIngest(w worker.Worker, acts *ingestact.Activities, aside *runs.Aside) {
	wf := ingest.Workflow{Runs: runs.Workflow{Aside: aside}.Execute}
	w.RegisterWorkflowWithOptions(wf.BatchIngest, workflow.RegisterOptions{Name: ingest.WorkflowName})
	acts.Register(w)
}

// registerRuns registers BatchRuns and its local activities, which share
// acts.Aside (set here when nil).
func registerRuns(w worker.Worker, acts *runsact.Activities) {
	if acts.Aside == nil {
		acts.Aside = &runs.Aside{}
	}
	w.RegisterWorkflowWithOptions(runs.Workflow{Aside: acts.Aside}.BatchRuns, workflow.RegisterOptions{Name: runs.WorkflowName})
	acts.Register(w)
}

// registerSweep registers Sweep and SweepObjects.
func registerSweep(w worker.Worker, acts *sweepact.Activities) {
	w.RegisterWorkflowWithOptions(sweep.Sweep, workflow.RegisterOptions{Name: sweep.WorkflowName})
	acts.Register(w)
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
	for _, k := range flow.SearchAttributes {
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

// NewGroup returns the workers of a streambatch worker process: New's on
// opts.TaskQueue, and one on runsQueue with BatchRuns and its local
// activities only.
func NewGroup(c client.Client, flows Flows, opts Options, runsQueue string) Group {
	main := New(c, flows, opts)
	w := worker.New(c, runsQueue, opts.sdk())
	registerRuns(w, flows.Runs)
	return Group{main, w}
}
