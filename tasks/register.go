package tasks

import (
	"context"
	"net/http"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// Registry is where tasks are registered: a Temporal worker.
type Registry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Options tune Register and RegisterRun.
type Options struct {
	// HTTPClient fetches stored payloads (default http.DefaultClient).
	HTTPClient *http.Client
	// SliceParallel is how many runs of one slice execute at once
	// (RegisterSliced; 0: all of them).
	SliceParallel int
}

// Register registers fn as the task named task: each run's payload is
// decoded from JSON into In and fn's result becomes the run's output. The
// run itself is available to fn through FromContext.
func Register[In, Out any](r Registry, task string, fn func(ctx context.Context, payload In) (Out, error), opts ...Options) {
	hc := httpClient(opts)
	r.RegisterActivityWithOptions(func(ctx context.Context, env Envelope) (Out, error) {
		run := NewRun(ctx, env, hc)
		var in In
		if err := run.resolveRef(ctx); err != nil {
			var zero Out
			return zero, err
		}
		if err := run.Decode(ctx, &in); err != nil {
			var zero Out
			return zero, err
		}
		return fn(context.WithValue(ctx, runKey{}, run), in)
	}, activity.RegisterOptions{Name: task})
}

// RegisterRun registers fn as the task named task; fn gets the whole run
// and reads its payload itself.
func RegisterRun[Out any](r Registry, task string, fn func(ctx context.Context, run *Run) (Out, error), opts ...Options) {
	hc := httpClient(opts)
	r.RegisterActivityWithOptions(func(ctx context.Context, env Envelope) (Out, error) {
		run := NewRun(ctx, env, hc)
		if err := run.resolveRef(ctx); err != nil {
			var zero Out
			return zero, err
		}
		return fn(context.WithValue(ctx, runKey{}, run), run)
	}, activity.RegisterOptions{Name: task})
}

func httpClient(opts []Options) *http.Client {
	if len(opts) > 0 && opts[0].HTTPClient != nil {
		return opts[0].HTTPClient
	}
	return http.DefaultClient
}

// DefaultActivityPollers is the activity task pollers NewWorker starts when
// opts sets neither MaxConcurrentActivityTaskPollers nor
// ActivityTaskPollerBehavior: a batch dispatches up to its whole window of
// runs at once, and the SDK's default of 2 pollers takes them one poll at a
// time (measured: 2 pollers held a 100-run window to ~120 runs/s, 8 to ~300).
const DefaultActivityPollers = 8

// NewWorker returns a Temporal worker that polls the runs of environment
// env (queue "" for the default queue, else the item's options.queue.name).
// Register tasks on it, then Run or Start it. It installs SliceHeartbeats,
// which sliced tasks (RegisterSliced) need when their runs heartbeat.
func NewWorker(c client.Client, env, queue string, opts worker.Options) worker.Worker {
	if opts.MaxConcurrentActivityTaskPollers == 0 && opts.ActivityTaskPollerBehavior == nil {
		opts.MaxConcurrentActivityTaskPollers = DefaultActivityPollers
	}
	opts.Interceptors = append(opts.Interceptors, &SliceHeartbeats{})
	return worker.New(c, TaskQueue(env, queue), opts)
}
