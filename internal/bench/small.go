package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/tasks"
	"github.com/streambatch/streambatch/wire"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// Scenario B: small batches. Latency of one 10-item batch from create to
// sealed:true with one client, and batches/s with 20 clients, beside the
// floor: the leanest durable small batch Temporal offers, one workflow
// whose single workflow task runs a local activity that COPYs the same
// rows, on the same stack.

// SmallResult is one (system, mode) measurement of scenario B.
type SmallResult struct {
	Scenario    string  `json:"scenario"`
	System      string  `json:"system"`
	Mode        string  `json:"mode"` // latency (1 client) or load (N clients)
	Clients     int     `json:"clients"`
	Batches     int     `json:"batches"`
	Errors      int     `json:"errors"`
	P50Ms       float64 `json:"p50_ms"`
	P95Ms       float64 `json:"p95_ms"`
	BatchesPerS float64 `json:"batches_per_s"`
	// HistoryEvents is per batch, every workflow of it counted.
	HistoryEvents float64 `json:"history_events"`
	// Cost is what Temporal charged for one batch of the measurement,
	// every workflow of it counted, and PerRun the same per run.
	Cost   Cost   `json:"cost_per_batch"`
	PerRun PerRun `json:"per_run"`
	// TemporalCPUMs is the Temporal server's CPU time per batch.
	TemporalCPUMs float64            `json:"temporal_cpu_ms_per_batch"`
	CPUSeconds    map[string]float64 `json:"cpu_seconds,omitempty"`
}

// SmallOptions configure RunSmall.
type SmallOptions struct {
	Items      int           // per batch (10)
	Sequential int           // batches in the latency mode
	Clients    int           // concurrent clients in the load mode
	Duration   time.Duration // of the load mode
	Env        string        // the environment of the API keys
	JSON       io.Writer
	Table      io.Writer
	CPU        map[string]int
}

// SmallSystem is a way to trigger one small batch, to be measured.
type SmallSystem struct {
	Name    string
	Trigger func(ctx context.Context) (ids []string, err error) // workflow ids, for history
}

// FloorBatch is the floor's workflow: one local activity that COPYs n rows.
func FloorBatch(ctx workflow.Context, n int) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return workflow.ExecuteLocalActivity(ctx, "floor-copy", n).Get(ctx, nil)
}

// floorCopy inserts n rows like runs with one COPY.
func floorCopy(pool *pgxpool.Pool) func(ctx context.Context, n int) error {
	return func(ctx context.Context, n int) error {
		id := fmt.Sprintf("floor_%d", time.Now().UnixNano())
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{id, int32(i), "t", `{"n":1}`}
		}
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_floor_runs"}, []string{"batch_id", "batch_index", "task", "payload"}, pgx.CopyFromRows(rows))
		return err
	}
}

// RunSmall measures scenario B for the floor and the given streambatch
// systems, in latency then load mode each.
func RunSmall(ctx context.Context, tc tclient.Client, pool *pgxpool.Pool, systems []SmallSystem, opts SmallOptions) ([]SmallResult, error) {
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_floor_runs (batch_id text, batch_index int, task text, payload text, PRIMARY KEY (batch_id, batch_index))`); err != nil {
		return nil, err
	}
	const floorQueue, anchorQueue = "bench-floor", "bench-anchor-small"
	fw := worker.New(tc, floorQueue, worker.Options{})
	fw.RegisterWorkflow(FloorBatch)
	fw.RegisterActivityWithOptions(floorCopy(pool), activityName("floor-copy"))
	aw := worker.New(tc, anchorQueue, worker.Options{})
	aw.RegisterWorkflow(Anchor)
	aw.RegisterActivityWithOptions(func(context.Context, int) error { return nil }, activityName("noop"))
	// The runs of streambatch's batches execute too (no-op), so that every
	// batch ends and the server does not pile up open workflows.
	tw := tasks.NewWorker(tc, opts.Env, "", worker.Options{MaxConcurrentActivityExecutionSize: 400})
	tasks.RegisterRun(tw, "t", func(context.Context, *tasks.Run) (any, error) { return nil, nil })
	for _, w := range []worker.Worker{fw, aw, tw} {
		if err := w.Start(); err != nil {
			return nil, err
		}
		defer w.Stop()
	}
	floor := SmallSystem{Name: "floor", Trigger: func(ctx context.Context) ([]string, error) {
		id := fmt.Sprintf("bench-floor-%d", time.Now().UnixNano())
		run, err := tc.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{ID: id, TaskQueue: floorQueue}, FloorBatch, opts.Items)
		if err != nil {
			return nil, err
		}
		return []string{id}, run.Get(ctx, nil)
	}}
	// The anchor executes the batch's runs as no-op activities, all at once.
	anchor := SmallSystem{Name: "anchor", Trigger: func(ctx context.Context) ([]string, error) {
		id := fmt.Sprintf("bench-anchor-small-%d", time.Now().UnixNano())
		run, err := tc.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{ID: id, TaskQueue: anchorQueue}, Anchor,
			AnchorInput{N: opts.Items, Window: opts.Items, Queue: anchorQueue})
		if err != nil {
			return nil, err
		}
		return []string{id}, run.Get(ctx, nil)
	}}
	var out []SmallResult
	for _, sys := range append([]SmallSystem{floor, anchor}, systems...) {
		// The runs a system's load phase accepted execute after it: the
		// next system starts once they are done, not in their backlog.
		if err := drainRuns(ctx, pool, 10*time.Minute); err != nil {
			return out, err
		}
		for _, mode := range []string{"latency", "load"} {
			clients, n, dur := 1, opts.Sequential, time.Duration(0)
			if mode == "load" {
				clients, n, dur = opts.Clients, 0, opts.Duration
			}
			cpu0 := cpuTimes(opts.CPU)
			r, sample := measureSmall(ctx, sys, clients, n, dur)
			r.Scenario, r.System, r.Mode, r.Clients = "B", sys.Name, mode, clients
			r.CPUSeconds = cpuTimes(opts.CPU)
			for k, v := range cpu0 {
				r.CPUSeconds[k] -= v
			}
			if r.Batches > 0 {
				r.TemporalCPUMs = 1000 * r.CPUSeconds["temporal"] / float64(r.Batches)
			}
			// The sampled batch ends before its cost is read: executing its
			// runs costs Temporal too.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			err := WaitClosed(wctx, tc, sample...)
			cancel()
			if err != nil {
				return out, err
			}
			cost, err := CostOf(ctx, tc, sample...)
			if err != nil {
				return out, err
			}
			r.Cost, r.PerRun = cost, cost.Per(opts.Items)
			r.HistoryEvents = float64(cost.HistoryEvents)
			out = append(out, r)
			if opts.JSON != nil {
				raw, _ := json.Marshal(r)
				fmt.Fprintln(opts.JSON, string(raw))
			}
		}
	}
	printSmallTable(opts.Table, opts.Items, out)
	return out, nil
}

// drainRuns waits until no run is open (queued, delayed or executing) or
// limit passes.
func drainRuns(ctx context.Context, pool *pgxpool.Pool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var open int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM runs WHERE status IN ('QUEUED', 'DELAYED', 'EXECUTING')`).Scan(&open)
		if err != nil || open == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d runs still open after %s", open, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// measureSmall triggers batches from clients goroutines, n in all (latency
// mode) or for dur (load mode), and returns the timings and the workflow
// ids of one batch (for its history).
func measureSmall(ctx context.Context, sys SmallSystem, clients, n int, dur time.Duration) (SmallResult, []string) {
	var mu sync.Mutex
	var lat []time.Duration
	var r SmallResult
	var sample []string
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	next := 0
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if (n > 0 && next >= n) || (n == 0 && time.Now().After(deadline)) {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				t0 := time.Now()
				ids, err := sys.Trigger(ctx)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					r.Errors++
				} else {
					lat = append(lat, d)
					if sample == nil {
						sample = ids
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r.Batches = len(lat)
	r.BatchesPerS = float64(len(lat)) / elapsed.Seconds()
	slices.Sort(lat)
	if len(lat) > 0 {
		r.P50Ms = float64(lat[len(lat)/2].Microseconds()) / 1000
		r.P95Ms = float64(lat[len(lat)*95/100].Microseconds()) / 1000
	}
	return r, sample
}

// StreambatchSmall triggers a batch of items no-op runs through a
// streambatch API and returns when it answered sealed:true.
func StreambatchSmall(name string, c *client.Client, items int) SmallSystem {
	return SmallSystem{Name: name, Trigger: func(ctx context.Context) ([]string, error) {
		seq := func(yield func(client.Item, error) bool) {
			for i := range items {
				if !yield(client.Item{Index: i, Task: "t", Payload: json.RawMessage(`{"n":1}`)}, nil) {
					return
				}
			}
		}
		res, err := c.TriggerBatch(ctx, wire.CreateBatchRequest{RunCount: items}, seq)
		if err != nil {
			return nil, err
		}
		if res.Stream == nil || !res.Stream.Sealed {
			return nil, fmt.Errorf("batch %s not sealed", res.Batch.ID)
		}
		return []string{res.Batch.ID, runswf.WorkflowID(res.Batch.ID)}, nil
	}}
}

func printSmallTable(w io.Writer, items int, rows []SmallResult) {
	if w == nil || len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nscenario B: %d-item batches, create → sealed:true (floor: one workflow, one local activity COPYing %d rows)\n", items, items)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tmode\tclients\tbatches\terrors\tp50 ms\tp95 ms\tbatches/s\t× floor\tactions/batch\thistory events/batch\thistory bytes/batch\tTemporal CPU ms/batch\t")
	floor := map[string]SmallResult{}
	for _, r := range rows {
		if r.System == "floor" {
			floor[r.Mode] = r
		}
	}
	for _, r := range rows {
		ratio := 0.0
		if f := floor[r.Mode]; r.Mode == "latency" && r.P50Ms > 0 && f.P50Ms > 0 {
			ratio = r.P50Ms / f.P50Ms
		} else if r.Mode == "load" && f.BatchesPerS > 0 {
			ratio = r.BatchesPerS / f.BatchesPerS
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%d\t%d\t%d\t%.1f\t\n", r.System, r.Mode, r.Clients, r.Batches, r.Errors,
			r.P50Ms, r.P95Ms, r.BatchesPerS, ratio, r.Cost.Actions, r.Cost.HistoryEvents, r.Cost.HistoryBytes, r.TemporalCPUMs)
	}
	tw.Flush()
}
