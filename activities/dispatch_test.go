package activities

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/streambatch/streambatch/batch"
	"github.com/streambatch/streambatch/store"
	"github.com/streambatch/streambatch/workflows"
)

// A run without a ttl of its own gets STREAMBATCH_RUN_DEFAULT_TTL as its
// schedule-to-start timeout, counted from its dispatch (a run queued long
// ago is dispatched, not expired); a run's own ttl wins and still counts
// from its queue time; with no default a run waits for ever.
func TestDispatchDefaultTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	in := workflows.StepInput{BatchID: "batch_x", Env: "prod", Now: now, MaxAttempts: 3, MaxDuration: time.Hour}
	old := now.Add(-24 * time.Hour)
	run := func(opts string, queued time.Time) store.ClaimedRun {
		r := store.ClaimedRun{Index: 1, Task: "t", PayloadType: batch.PayloadTypeJSON, QueueTimestamp: queued}
		if opts != "" {
			r.Options = json.RawMessage(opts)
		}
		return r
	}
	for _, tc := range []struct {
		name       string
		defaultTTL time.Duration
		run        store.ClaimedRun
		want       time.Duration
		expired    bool
	}{
		{"no ttl, no default: waits for ever", 0, run("", old), 0, false},
		{"no ttl: the default, from now", 10 * time.Minute, run("", old), 10 * time.Minute, false},
		{"no ttl, other options: the default", 10 * time.Minute, run(`{"tags":["a"]}`, now), 10 * time.Minute, false},
		{"own ttl wins, from its queue time", 10 * time.Minute, run(`{"ttl":"1h"}`, now.Add(-30*time.Minute)), 30 * time.Minute, false},
		{"own ttl passed: expired without dispatch", 10 * time.Minute, run(`{"ttl":"1h"}`, old), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Activities{RunDefaultTTL: tc.defaultTTL}
			d, failed, err := a.dispatch(context.Background(), in, tc.run)
			if err != nil {
				t.Fatal(err)
			}
			if tc.expired {
				if failed == nil || failed.Status != batch.RunExpired || failed.ErrorCode != batch.ErrorTTLExpired {
					t.Fatalf("want EXPIRED, got %+v", failed)
				}
				return
			}
			if failed != nil {
				t.Fatalf("failed: %+v", failed)
			}
			if d.ScheduleToStart != tc.want {
				t.Fatalf("schedule-to-start %s, want %s", d.ScheduleToStart, tc.want)
			}
		})
	}
}
