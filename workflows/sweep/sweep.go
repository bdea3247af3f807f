package sweep

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the sweeper's workflow and activity.
const (
	// WorkflowName is the workflow a Temporal Schedule
	// (ScheduleID) starts to remove the objects finished batches no
	// longer reference.
	WorkflowName = "Sweep"
	// ActivitySweepObjects sweeps a page of finished batches.
	ActivitySweepObjects = "SweepObjects"
	// ScheduleID is the Temporal Schedule that runs Sweep.
	ScheduleID = "streambatch-sweep"
)

// Input says which batches a sweep takes: those finished (sealed or
// aborted) more than Grace ago and not swept since, Limit per activity.
type Input struct {
	Grace time.Duration `json:"grace"`
	Limit int           `json:"limit"`
}

// Result counts what a sweep did.
type Result struct {
	Batches int `json:"batches"`
	Deleted int `json:"deleted"`
	Kept    int `json:"kept"`
	// More reports a full page: more batches may wait.
	More bool `json:"more"`
}

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
		total.More = r.More
		if !r.More {
			break
		}
	}
	return total, nil
}
