package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The collector exposes each environment and queue's waiting runs and how
// long the oldest has waited; a failing query is a gathering error.
func TestRunsWaiting(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	since := now.Add(-90 * time.Second)
	c := NewRunsWaiting(func(context.Context) ([]QueueWaiting, error) {
		return []QueueWaiting{{Env: "prod", Queue: "", Runs: 3, Since: &since}, {Env: "prod", Queue: "gpu", Runs: 1}}, nil
	})
	c.now = func() time.Time { return now }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf(" %s=%q", l.GetName(), l.GetValue())
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		`streambatch_runs_waiting_for_worker env="prod" queue=""`:                3,
		`streambatch_runs_waiting_for_worker env="prod" queue="gpu"`:             1,
		`streambatch_runs_waiting_for_worker_oldest_seconds env="prod" queue=""`: 90,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}

	failing := prometheus.NewRegistry()
	failing.MustRegister(NewRunsWaiting(func(context.Context) ([]QueueWaiting, error) { return nil, errors.New("down") }))
	if _, err := failing.Gather(); err == nil {
		t.Fatal("a failing query did not fail the scrape")
	}
}

// Beyond the series cap, the smallest groups are summed under (other).
func TestCapSeries(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []QueueWaiting
	for i := range 5 {
		all = append(all, QueueWaiting{Env: "e", Queue: fmt.Sprint(i), Runs: i + 1, Since: &t0})
	}
	got := capSeries(all, 3)
	if len(got) != 3 || got[0].Runs != 5 || got[1].Runs != 4 || got[2].Env != "(other)" || got[2].Runs != 6 || got[2].Since == nil {
		t.Fatalf("got %+v", got)
	}
	if got := capSeries(all, 5); len(got) != 5 {
		t.Fatalf("under the cap: %+v", got)
	}
}
