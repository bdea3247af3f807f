package tasks

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

func sliceEnvelopes(n int) []Envelope {
	envs := make([]Envelope, n)
	for i := range envs {
		envs[i] = Envelope{ID: "run", Index: i, Task: "t", Attempt: 1, PayloadType: PayloadTypeJSON, Payload: `{"n":1}`}
	}
	return envs
}

// A retried slice activity (its worker died) returns the outcomes of the
// runs its last heartbeat reported finished without running them again,
// and runs the others with the attempts they already began counted.
func TestSliceResumesFromHeartbeat(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	var mu sync.Mutex
	ran := map[int]int{} // attempt seen, by index
	RegisterRunSliced(env, "t", func(ctx context.Context, run *Run) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		ran[run.Index] = run.Attempt
		return run.Index * 10, nil
	})
	env.SetHeartbeatDetails(SliceProgress{Done: []SliceOutcome{{Index: 0, Attempts: 1, Output: []byte(`"kept"`)}}, Tries: map[int]int{1: 1}})
	v, err := env.ExecuteActivity(SliceActivity("t"), sliceEnvelopes(3))
	if err != nil {
		t.Fatal(err)
	}
	var res SliceResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(res.Runs, func(a, b SliceOutcome) int { return a.Index - b.Index })
	if len(res.Runs) != 3 || string(res.Runs[0].Output) != `"kept"` || string(res.Runs[1].Output) != "10" || string(res.Runs[2].Output) != "20" {
		t.Fatalf("result %+v", res.Runs)
	}
	if _, again := ran[0]; again || ran[1] != 2 || ran[2] != 1 || res.Runs[1].Attempts != 2 || res.Runs[2].Attempts != 1 {
		t.Fatalf("ran %v (want 1 at attempt 2, 2 at attempt 1, not 0); outcomes %+v", ran, res.Runs)
	}
}

// Each run's error is its own: the slice succeeds, the failed runs say
// why (type, message, retryable or not, timed out past maxDuration).
func TestSliceRunErrors(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	RegisterRunSliced(env, "t", func(ctx context.Context, run *Run) (any, error) {
		switch run.Index {
		case 1:
			return nil, errors.New("plain")
		case 2:
			return nil, NonRetryable(errors.New("bad"))
		case 3:
			<-ctx.Done() // past its maxDuration
			return nil, ctx.Err()
		case 4:
			panic("oops")
		}
		return nil, nil
	})
	envs := sliceEnvelopes(5)
	envs[3].MaxDurationMs = 1
	v, err := env.ExecuteActivity(SliceActivity("t"), envs)
	if err != nil {
		t.Fatal(err)
	}
	var res SliceResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(res.Runs, func(a, b SliceOutcome) int { return a.Index - b.Index })
	r := res.Runs
	if len(r) != 5 || r[0].Error != nil || r[0].Output != nil {
		t.Fatalf("outcomes %+v", r)
	}
	if e := r[1].Error; e == nil || e.Type != "errorString" || e.Message != "plain" || e.NonRetryable {
		t.Errorf("plain error: %+v", e)
	}
	if e := r[2].Error; e == nil || e.Type != "NonRetryable" || !e.NonRetryable {
		t.Errorf("non-retryable: %+v", e)
	}
	if e := r[3].Error; e == nil || !e.Timeout {
		t.Errorf("past maxDuration: %+v", e)
	}
	if e := r[4].Error; e == nil || e.Message != "panic: oops" || e.NonRetryable {
		t.Errorf("panic: %+v", e)
	}
}

// A run of a slice that heartbeats (to learn of its cancellation) records
// the slice's progress, not its own details, on a worker with
// SliceHeartbeats (NewWorker's).
func TestSliceRunHeartbeatsKeepProgress(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&SliceHeartbeats{}}})
	var mu sync.Mutex
	var beats []SliceProgress
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p SliceProgress
		if err := details.Get(&p); err != nil {
			t.Errorf("heartbeat details are not a SliceProgress: %v", err)
		}
		mu.Lock()
		beats = append(beats, p)
		mu.Unlock()
	})
	RegisterRunSliced(env, "t", func(ctx context.Context, run *Run) (any, error) {
		activity.RecordHeartbeat(ctx, "my own details")
		return nil, nil
	})
	if _, err := env.ExecuteActivity(SliceActivity("t"), sliceEnvelopes(2)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(beats) == 0 {
		t.Fatal("no heartbeat recorded")
	}
}
