package runs

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/tasks"
)

// The marker's Claimed rebuilds the step's runs in their order, with every
// field a Dispatch has besides the envelope's contents.
func TestClaimedRebuildsTheRuns(t *testing.T) {
	t.Parallel()
	const id = "batch_aaaaaaaaaaaaaaaaaaaaaaaa"
	d := func(i int, task string, attempt, prior, slice int, queue string) Dispatch {
		return Dispatch{
			Envelope: tasks.Envelope{ID: batch.RunID(id, i), BatchID: id, Index: i, Task: task, Attempt: attempt,
				Payload: "p", PayloadType: "application/json", Tags: []string{"t"}, Metadata: json.RawMessage(`{"m":1}`)},
			TaskQueue: queue, MaxAttempts: 3, StartToClose: time.Minute, ScheduleToStart: time.Hour, Priority: 2, Slice: slice, Prior: prior,
		}
	}
	runs := []Dispatch{
		d(0, "a", 1, 0, 50, "runs.e"), d(1, "a", 1, 0, 50, "runs.e"), d(2, "a", 1, 0, 50, "runs.e"),
		d(3, "b", 1, 0, 0, "runs.e"), d(4, "a", 1, 0, 50, "runs.e"), d(5, "a", 1, 0, 50, "runs.e.q"),
		d(9, "a", 1, 0, 50, "runs.e"), d(7, "a", 4, 0, 50, "runs.e"), d(8, "a", 3, 2, 0, "runs.e"),
	}
	got := claim(runs).Dispatches(id)
	if len(got) != len(runs) {
		t.Fatalf("rebuilt %d runs of %d", len(got), len(runs))
	}
	for k, r := range runs {
		want := r
		want.Envelope = tasks.Envelope{ID: r.Envelope.ID, BatchID: id, Index: r.Envelope.Index, Task: r.Envelope.Task, Attempt: r.Envelope.Attempt}
		want.PayloadAside = true
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("run %d: rebuilt %+v, want %+v", k, got[k], want)
		}
	}
}

// A claim of consecutive runs of one task costs the marker a few bytes in
// all, whatever the number of runs.
func TestClaimedIsCompact(t *testing.T) {
	t.Parallel()
	runs := make([]Dispatch, 1000)
	for i := range runs {
		runs[i] = Dispatch{Envelope: tasks.Envelope{Index: 2000 + i, Task: "noop", Attempt: 1}, TaskQueue: "runs.bench", MaxAttempts: 3, StartToClose: time.Hour, Slice: 50}
	}
	b, err := json.Marshal(claim(runs))
	if err != nil || len(b) > 200 {
		t.Fatalf("1,000 consecutive runs marshal to %d bytes (%v): %s", len(b), err, b)
	}
}
