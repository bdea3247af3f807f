package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/streambatch/streambatch/workflows/sweep"
)

// expireOnlyEvery is the schedule's interval while object sweeping is off:
// how late, at most, a batch never streamed is aborted after its seal
// deadline.
const expireOnlyEvery = 10 * time.Minute

// SweepOptions configure the sweeper's schedule.
type SweepOptions struct {
	TaskQueue string
	// Every is the schedule's interval (0: no object sweeping; the schedule
	// then only expires overdue batches, every expireOnlyEvery).
	Every time.Duration
	// Grace is how long after a batch finished its objects are swept.
	Grace time.Duration
	// Limit is the batches per SweepObjects activity.
	Limit int
}

// EnsureSweepSchedule creates the Temporal Schedule that runs the Sweep
// workflow every opts.Every (one run at a time), or updates it to these
// options when it exists. With Every 0 objects are not swept, and the
// schedule only expires overdue batches (a batch never streamed has no
// workflow whose timer would abort it). Every worker calls it at start;
// the result is the same whoever does.
func EnsureSweepSchedule(ctx context.Context, c client.Client, opts SweepOptions) error {
	sc := c.ScheduleClient()
	h := sc.GetHandle(ctx, sweep.ScheduleID)
	in, every := sweep.Input{Grace: opts.Grace, Limit: opts.Limit}, opts.Every
	note := "streambatch: remove objects finished batches no longer reference; abort batches past their seal deadline"
	if every <= 0 {
		in, every = sweep.Input{Limit: opts.Limit, ExpireOnly: true}, expireOnlyEvery
		note = "streambatch: abort batches past their seal deadline (object sweeping is off)"
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID:        sweep.ScheduleID,
		Workflow:  sweep.WorkflowName,
		Args:      []any{in},
		TaskQueue: opts.TaskQueue,
		// A sweep that cannot finish must not hold the schedule for ever.
		WorkflowRunTimeout: max(every, 10*time.Minute),
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      sweep.ScheduleID,
		Spec:    spec,
		Action:  action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    note,
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
		if s.State != nil {
			s.State.Note = note
		}
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return fmt.Errorf("worker: update the sweep schedule: %w", err)
	}
	return nil
}
