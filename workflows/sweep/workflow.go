package sweep

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// pages bounds the activities one Sweep runs; the next scheduled run
// takes the rest.
const pages = 20

// Sweep removes unreferenced objects of finished batches: packets of
// duplicate deliveries and failed streams, staged chunks written after the
// seal or the abort. It runs SweepObjects until a page comes back short.
func Sweep(ctx workflow.Context, in Input) (Result, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	var total Result
	for range pages {
		var r Result
		if err := workflow.ExecuteActivity(ctx, ActivitySweepObjects, in).Get(ctx, &r); err != nil {
			return total, err
		}
		total.Batches += r.Batches
		total.Deleted += r.Deleted
		total.Kept += r.Kept
		total.Expired += r.Expired
		total.More = r.More
		if !r.More {
			break
		}
	}
	return total, nil
}
