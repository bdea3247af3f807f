package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/streambatch/streambatch/workflows/sweep"
)

// SweepOptions configure the sweeper's schedule.
type SweepOptions struct {
	TaskQueue string
	// Every is the schedule's interval (0: remove the schedule).
	Every time.Duration
	// Grace is how long after a batch finished its objects are swept.
	Grace time.Duration
	// Limit is the batches per SweepObjects activity.
	Limit int
}

// EnsureSweepSchedule creates the Temporal Schedule that runs the Sweep
// workflow every opts.Every (one run at a time), or updates it to these
// options when it exists; with Every 0 it deletes it. Every worker calls
// it at start; the result is the same whoever does.
func EnsureSweepSchedule(ctx context.Context, c client.Client, opts SweepOptions) error {
	sc := c.ScheduleClient()
	h := sc.GetHandle(ctx, sweep.ScheduleID)
	if opts.Every <= 0 {
		if err := h.Delete(ctx); err != nil && !isNotFound(err) {
			return fmt.Errorf("worker: delete the sweep schedule: %w", err)
		}
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: opts.Every}}}
	action := &client.ScheduleWorkflowAction{
		ID:        sweep.ScheduleID,
		Workflow:  sweep.WorkflowName,
		Args:      []any{sweep.Input{Grace: opts.Grace, Limit: opts.Limit}},
		TaskQueue: opts.TaskQueue,
		// A sweep that cannot finish must not hold the schedule for ever.
		WorkflowRunTimeout: max(opts.Every, 10*time.Minute),
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      sweep.ScheduleID,
		Spec:    spec,
		Action:  action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "streambatch: remove objects finished batches no longer reference",
	})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		if err != nil {
			return fmt.Errorf("worker: create the sweep schedule: %w", err)
		}
		return nil
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		s.Spec = &spec
		s.Action = action
		if s.Policy != nil {
			s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
		}
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return fmt.Errorf("worker: update the sweep schedule: %w", err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
