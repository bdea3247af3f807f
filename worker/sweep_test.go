package worker

import (
	"context"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/streambatch/streambatch/workflows/sweep"
)

// The sweep schedule sweeps objects and expires overdue batches every
// SweepOptions.Every; with Every 0 it stays, and only expires them (a
// batch never streamed has no workflow whose timer would abort it), every
// expireOnlyEvery. Each call updates the schedule in place.
func TestEnsureSweepSchedule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := devClient(t)
	describe := func(t *testing.T) (time.Duration, sweep.Input, string) {
		t.Helper()
		desc, err := c.ScheduleClient().GetHandle(ctx, sweep.ScheduleID).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
		if !ok || len(action.Args) != 1 || len(desc.Schedule.Spec.Intervals) != 1 {
			t.Fatalf("schedule %+v, action %+v", desc.Schedule.Spec, desc.Schedule.Action)
		}
		var in sweep.Input
		if err := converter.GetDefaultDataConverter().FromPayload(action.Args[0].(*commonpb.Payload), &in); err != nil {
			t.Fatal(err)
		}
		return desc.Schedule.Spec.Intervals[0].Every, in, desc.Schedule.State.Note
	}
	for _, tc := range []struct {
		name  string
		every time.Duration
		want  sweep.Input
		each  time.Duration
	}{
		{"sweeping", 5 * time.Minute, sweep.Input{Grace: time.Minute, Limit: 50}, 5 * time.Minute},
		{"sweeping off: expiry only", 0, sweep.Input{Limit: 50, ExpireOnly: true}, expireOnlyEvery},
		{"sweeping again", 20 * time.Minute, sweep.Input{Grace: time.Minute, Limit: 50}, 20 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := EnsureSweepSchedule(ctx, c, SweepOptions{TaskQueue: "q", Every: tc.every, Grace: time.Minute, Limit: 50}); err != nil {
				t.Fatal(err)
			}
			every, in, note := describe(t)
			if every != tc.each || in != tc.want || note == "" {
				t.Fatalf("every %s, input %+v, note %q; want every %s, input %+v", every, in, note, tc.each, tc.want)
			}
		})
	}
}
