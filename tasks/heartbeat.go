package tasks

import (
	"context"

	"go.temporal.io/sdk/interceptor"
)

// A run of a slice shares its activity's heartbeat details with the slice's
// progress (SliceProgress): a task that heartbeats (to learn of its
// cancellation) would otherwise overwrite that progress with its own
// details. SliceHeartbeats, which NewWorker installs, turns the heartbeats
// of a run in a slice into heartbeats of the slice's progress.

type sliceKey struct{}

// SliceHeartbeats is a worker interceptor that keeps a slice's heartbeat
// details its progress while its runs heartbeat. NewWorker installs it; add
// it to worker.Options.Interceptors of a worker you build yourself.
type SliceHeartbeats struct {
	interceptor.WorkerInterceptorBase
}

// InterceptActivity implements interceptor.WorkerInterceptor.
func (*SliceHeartbeats) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &sliceInbound{}
	i.Next = next
	return i
}

type sliceInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *sliceInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	o := &sliceOutbound{}
	o.Next = outbound
	return i.Next.Init(o)
}

type sliceOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
}

func (o *sliceOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	if s, ok := ctx.Value(sliceKey{}).(*slice); ok {
		details = []any{s.snapshot()}
	}
	o.Next.RecordHeartbeat(ctx, details...)
}
