package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/streambatch/streambatch/tasks"
)

// A sliced task's runs execute five to an activity on a real task worker
// (STREAMBATCH_SLICED_TASKS echo-sliced=5): each run ends as its task did,
// with its own output and attempts; a run that failed its first attempt in
// a slice is retried alone and completes at attempt 2; Temporal schedules
// one activity per slice, not per run. A batch of 40 runs executes in its
// BatchIngest (a small batch), one of 140 in its BatchRuns, whose window
// of 100 then holds up to 100 slices.
func TestSlicedRuns(t *testing.T) {
	s := requireStack(t)
	t.Parallel()
	for _, n := range []int{40, 140} {
		t.Run(fmt.Sprintf("%d runs", n), func(t *testing.T) {
			t.Parallel()
			testSlicedRuns(t, s, n)
		})
	}
}

func testSlicedRuns(t *testing.T, s *stack, n int) {
	env, key := s.newKey(t)
	tw := startTaskWorker(t, s, env)
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"index":%d,"task":"echo-sliced","payload":{"n":%d}}`+"\n", i, i)
	}
	id := s.mustCreate(t, key, n)
	if code, _, raw := s.stream(t, key, id, body.Bytes()); code != 200 {
		t.Fatalf("stream: %d %s", code, raw)
	}
	step(t, "every run completes with its own output and attempts", func(t *testing.T) {
		b := s.waitBatch(t, key, id, 2*time.Minute)
		if b.Status != "COMPLETED" || b.RunCounts["COMPLETED"] != n {
			t.Fatalf("batch %+v", b)
		}
		for _, r := range s.runs(t, key, id) {
			want := 1
			if r.Index%7 == 3 {
				want = 2
			}
			if r.Status != "COMPLETED" || r.Attempts != want || deref(r.Output) != fmt.Sprintf(`{"doubled":%d}`, 2*r.Index) ||
				deref(r.OutputType) != "application/json" || r.CompletedAt == nil {
				t.Fatalf("run %d: %+v output %s, want %d attempts", r.Index, r, deref(r.Output), want)
			}
			if got := tw.executions(r.ID); got != want {
				t.Fatalf("run %d executed %d times, want %d", r.Index, got, want)
			}
		}
	})
	step(t, "Temporal scheduled slices, and the failed runs alone", func(t *testing.T) {
		slices, alone := 0, 0
		it := s.app.Temporal.GetWorkflowHistory(context.Background(), runsWorkflowOf(s, id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				switch a.GetActivityType().GetName() {
				case tasks.SliceActivity("echo-sliced"):
					slices++
				case "echo-sliced":
					alone++
				}
			}
		}
		// Slices of at most 5; runs 3, 10, 17, … (n % 7 == 3) retried alone.
		flaky := (n + 3) / 7
		if slices < n/5 || slices > n/2 || alone != flaky {
			t.Fatalf("%d slice activities, %d run activities; want ≥ %d slices and %d runs retried alone", slices, alone, n/5, flaky)
		}
		if wid := runsWorkflowOf(s, id); wid == id {
			recordHistory(t, s, wid, "batch_ingest_runs_here_sliced_v2")
		} else {
			recordHistory(t, s, wid, "batch_runs_sliced_v3")
		}
	})
}
