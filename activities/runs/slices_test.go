package runs

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/internal/store"
	contract "github.com/streambatch/streambatch/workflows/runs"
)

func TestSlicesSize(t *testing.T) {
	t.Parallel()
	s := Slices{"send-email": 50, "prod/send-email": 20, "x/y/z": 2}
	for _, c := range []struct {
		env, task string
		want      int
	}{{"dev", "send-email", 50}, {"prod", "send-email", 20}, {"x", "y/z", 2}, {"dev", "other", 0}} {
		if got := s.Size(c.env, c.task); got != c.want {
			t.Errorf("Size(%q, %q) = %d, want %d", c.env, c.task, got, c.want)
		}
	}
}

// A step marks the runs of sliced tasks with their slice size, and
// dispatches a run sent back from a slice alone, from its row: the attempt
// it begins with, the attempts left, no ttl wait (it started already), and
// no slice.
func TestDispatchStepSlicesAndRetries(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const env, id = "prod", "batch_aaaaaaaaaaaaaaaaaaaaaaaa"
	exec := &fakeExec{
		stepRes: store.StepResult{Batch: store.Batch{Status: batch.StatusProcessing}, Open: true, Ready: true, Runs: []store.ClaimedRun{
			{Index: 8, Task: "sliced", PayloadType: batch.PayloadTypeJSON, QueueTimestamp: now},
			{Index: 9, Task: "plain", PayloadType: batch.PayloadTypeJSON, QueueTimestamp: now},
		}},
		runs: map[int]store.Run{
			// ttl long past: a retry still runs.
			3: {Index: 3, Task: "sliced", Status: batch.RunQueued, PayloadType: batch.PayloadTypeJSON, Payload: ptr(`{"i":3}`),
				Options: []byte(`{"ttl":1}`), QueueTimestamp: now.Add(-time.Hour)},
			4: {Index: 4, Task: "sliced", Status: batch.RunCanceled},
		},
	}
	a := &Activities{Exec: exec, Objects: &fakeObjects{}, Slices: Slices{"sliced": 50}}
	out, err := a.DispatchStep(context.Background(), contract.StepInput{BatchID: id, Env: env, RunID: "r1", Step: 2, Claim: 2, Now: now,
		MaxAttempts: 3, MaxDuration: time.Hour,
		Retry: []contract.RetryRun{{Index: 3, Attempt: 2, Prior: 1}, {Index: 4, Attempt: 3, Prior: 2}, {Index: 5, Attempt: 2, Prior: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Runs) != 3 || out.Runs[0].Slice != 50 || out.Runs[1].Slice != 0 {
		t.Fatalf("runs %+v", out.Runs)
	}
	r := out.Runs[2]
	if r.Envelope.Index != 3 || r.Envelope.Attempt != 2 || r.Envelope.Payload != `{"i":3}` || r.Prior != 1 || r.MaxAttempts != 2 || r.Slice != 0 {
		t.Fatalf("retry %+v", r)
	}
	if len(out.Failed) != 2 || out.Failed[0].Index != 4 || out.Failed[1].Index != 5 || out.Failed[0].Attempts != 2 {
		t.Fatalf("runs that ended before their retry: %+v", out.Failed)
	}
}

// A started slice shows each of its runs EXECUTING; a run retried alone
// counts the attempts its slice made.
func TestStartedRunsOfSlices(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := &Activities{Temporal: fakeHistories{pending: []*workflowpb.PendingActivityInfo{
		{ActivityId: contract.SliceActivityID([]int{0, 1, 2}), State: enumspb.PENDING_ACTIVITY_STATE_STARTED, Attempt: 2, LastStartedTime: timestamppb.New(now)},
		{ActivityId: contract.SliceActivityID([]int{5, 6}), State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, Attempt: 1},
		{ActivityId: contract.RunActivityID(9, 2), State: enumspb.PENDING_ACTIVITY_STATE_STARTED, Attempt: 1, LastStartedTime: timestamppb.New(now)},
	}}}
	got, err := a.startedRuns(context.Background(), "w", "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Index != 0 || got[2].Index != 2 || got[3].Index != 9 || got[3].Attempt != 3 {
		t.Fatalf("started %+v", got)
	}
}
