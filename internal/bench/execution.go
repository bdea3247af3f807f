package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/streambatch/streambatch/client"
	"github.com/streambatch/streambatch/tasks"
	"github.com/streambatch/streambatch/wire"
	runswf "github.com/streambatch/streambatch/workflows/runs"
)

// Scenario E: runs executed to COMPLETED (streambatch) beside the anchor,
// the same no-op activities driven directly by a minimal sliding-window
// workflow on the same Temporal server and task worker process.

// ExecResult is one system's measurement of scenario E.
type ExecResult struct {
	Scenario string `json:"scenario"`
	System   string `json:"system"` // anchor, streambatch, or streambatch-k<K> (sliced)
	// Slice is the slice size K of the streambatch runs (1: one activity
	// per run).
	Slice    int     `json:"slice,omitempty"`
	Runs     int     `json:"runs"`
	Seconds  float64 `json:"seconds"`
	RunsPerS float64 `json:"runs_per_s"`
	// HistoryEvents sums every workflow run of the batch (BatchIngest and
	// BatchRuns, or the anchor's chain).
	HistoryEvents int64   `json:"history_events"`
	EventsPerRun  float64 `json:"events_per_run"`
	WorkflowRuns  int     `json:"workflow_runs"`
	// Cost is what Temporal charged for the whole measurement, PerRun the
	// same per run executed.
	Cost   Cost   `json:"cost"`
	PerRun PerRun `json:"per_run"`
	// TemporalCPUMsPerRun is the Temporal server's CPU time per run.
	TemporalCPUMsPerRun float64 `json:"temporal_cpu_ms_per_run"`
	// CPUSeconds is the CPU time by process during the measurement.
	CPUSeconds map[string]float64 `json:"cpu_seconds,omitempty"`
	Error      string             `json:"error,omitempty"`
}

// ExecOptions configure RunExecution.
type ExecOptions struct {
	Runs   int
	Window int // the anchor's window: STREAMBATCH_RUN_CONCURRENCY
	// Slices are the slice sizes to measure streambatch with (default 1:
	// one activity per run); K > 1 runs the task SlicedNoop(K), which the
	// stack's worker must slice (STREAMBATCH_SLICED_TASKS).
	Slices []int
	Env    string // the streambatch environment of the API key
	JSON   io.Writer
	Table  io.Writer
	CPU    map[string]int
	// PayloadBytes gives every run a payload of this many bytes (0: none):
	// a JSON string for streambatch, the activity's second argument for
	// the anchor.
	PayloadBytes int
	// NoAnchor skips the anchor (when another run measured it already).
	NoAnchor bool
}

// AnchorInput is the anchor workflow's input.
type AnchorInput struct {
	N, Window, Done int
	Queue           string
	// PayloadBytes, when set, passes each activity a payload of this size
	// as its second argument.
	PayloadBytes int `json:",omitempty"`
}

// Anchor is the minimal sliding-window workflow: N no-op activities, Window
// at a time, continuing as new when suggested after draining.
func Anchor(ctx workflow.Context, in AnchorInput) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: in.Queue, StartToCloseTimeout: time.Minute})
	sel := workflow.NewSelector(ctx)
	pending, next := 0, in.Done
	payload := strings.Repeat("x", in.PayloadBytes)
	for next < in.N || pending > 0 {
		suggested := workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		for !suggested && pending < in.Window && next < in.N {
			args := []any{next}
			if in.PayloadBytes > 0 {
				args = append(args, payload)
			}
			f := workflow.ExecuteActivity(ctx, "noop", args...)
			pending++
			next++
			sel.AddFuture(f, func(workflow.Future) { pending-- })
		}
		if suggested && pending == 0 {
			in.Done = next
			return 0, workflow.NewContinueAsNewError(ctx, Anchor, in)
		}
		sel.Select(ctx)
	}
	return in.N, nil
}

// RunExecution measures scenario E: the anchor, then streambatch, each
// executing opts.Runs no-op runs on a task worker in this process.
func RunExecution(ctx context.Context, sb *Streambatch, tc tclient.Client, opts ExecOptions) ([]ExecResult, error) {
	const anchorQueue = "bench-anchor"
	tw := tasks.NewWorker(tc, opts.Env, "", worker.Options{MaxConcurrentActivityExecutionSize: 4 * opts.Window})
	noop := func(context.Context, *tasks.Run) (any, error) { return nil, nil }
	tasks.RegisterRun(tw, "noop", noop)
	ks := opts.Slices
	if len(ks) == 0 {
		ks = []int{1}
	}
	systems := []string{"anchor"}
	for _, k := range ks {
		if k > 1 {
			tasks.RegisterRunSliced(tw, SlicedNoop(k), noop)
			systems = append(systems, fmt.Sprintf("streambatch-k%d", k))
		} else {
			systems = append(systems, "streambatch")
		}
	}
	// The same worker settings for both: tasks.NewWorker's (pollers included).
	aw := worker.New(tc, anchorQueue, worker.Options{MaxConcurrentActivityExecutionSize: 4 * opts.Window,
		MaxConcurrentActivityTaskPollers: tasks.DefaultActivityPollers})
	aw.RegisterWorkflow(Anchor)
	if opts.PayloadBytes > 0 {
		aw.RegisterActivityWithOptions(func(context.Context, int, string) error { return nil }, activityName("noop"))
	} else {
		aw.RegisterActivityWithOptions(func(context.Context, int) error { return nil }, activityName("noop"))
	}
	for _, w := range []worker.Worker{tw, aw} {
		if err := w.Start(); err != nil {
			return nil, err
		}
		defer w.Stop()
	}
	var out []ExecResult
	if opts.NoAnchor {
		systems = systems[1:]
	}
	for _, sys := range systems {
		cpu0 := cpuTimes(opts.CPU)
		var r ExecResult
		var ids []string
		var err error
		k := 1
		if n, ok := strings.CutPrefix(sys, "streambatch-k"); ok {
			fmt.Sscan(n, &k)
		}
		if sys == "anchor" {
			r, ids, err = runAnchor(ctx, tc, anchorQueue, opts)
		} else {
			task := "noop"
			if k > 1 {
				task = SlicedNoop(k)
			}
			r, ids, err = runBatch(ctx, sb, opts, task)
		}
		r.Scenario, r.System, r.Runs = "E", sys, opts.Runs
		if sys != "anchor" {
			r.Slice = k
		}
		// CPU before reading the histories, which costs Temporal too.
		r.CPUSeconds = cpuTimes(opts.CPU)
		for n, v := range cpu0 {
			r.CPUSeconds[n] -= v
		}
		if err == nil {
			err = WaitClosed(ctx, tc, ids...)
		}
		if err == nil {
			r.Cost, err = CostOf(ctx, tc, ids...)
		}
		if err != nil {
			r.Error = err.Error()
		}
		if r.Seconds > 0 {
			r.RunsPerS = float64(opts.Runs) / r.Seconds
		}
		r.HistoryEvents, r.WorkflowRuns = r.Cost.HistoryEvents, r.Cost.Executions
		r.PerRun = r.Cost.Per(opts.Runs)
		r.EventsPerRun = r.PerRun.HistoryEvents
		r.TemporalCPUMsPerRun = 1000 * r.CPUSeconds["temporal"] / float64(opts.Runs)
		out = append(out, r)
		if opts.JSON != nil {
			raw, _ := json.Marshal(r)
			fmt.Fprintln(opts.JSON, string(raw))
		}
		if err != nil {
			return out, fmt.Errorf("scenario E, %s: %w", sys, err)
		}
	}
	printExecTable(opts.Table, out)
	return out, nil
}

// SlicedNoop is scenario E's no-op task sliced by k.
func SlicedNoop(k int) string { return fmt.Sprintf("noop-s%d", k) }

// runAnchor times the anchor and returns its workflow id.
func runAnchor(ctx context.Context, tc tclient.Client, queue string, opts ExecOptions) (ExecResult, []string, error) {
	var r ExecResult
	id := fmt.Sprintf("bench-anchor-%d", time.Now().UnixNano())
	start := time.Now()
	run, err := tc.ExecuteWorkflow(ctx, tclient.StartWorkflowOptions{ID: id, TaskQueue: queue}, Anchor,
		AnchorInput{N: opts.Runs, Window: opts.Window, Queue: queue, PayloadBytes: opts.PayloadBytes})
	if err != nil {
		return r, nil, err
	}
	if err := run.Get(ctx, nil); err != nil {
		return r, nil, err
	}
	r.Seconds = time.Since(start).Seconds()
	return r, []string{id}, nil
}

// runBatch times a streambatch batch and returns its workflow ids.
func runBatch(ctx context.Context, sb *Streambatch, opts ExecOptions, task string) (ExecResult, []string, error) {
	var r ExecResult
	start := time.Now()
	b, err := sb.Client.CreateBatch(ctx, wire.CreateBatchRequest{RunCount: opts.Runs})
	if err != nil {
		return r, nil, err
	}
	var payload json.RawMessage
	if opts.PayloadBytes > 0 {
		payload = client.StringPayload(strings.Repeat("x", opts.PayloadBytes)) // stored as is: PayloadBytes bytes
	}
	items := iter.Seq2[client.Item, error](func(yield func(client.Item, error) bool) {
		for i := range opts.Runs {
			if !yield(client.Item{Index: i, Task: task, Payload: payload}, nil) {
				return
			}
		}
	})
	if _, err := sb.Client.StreamItems(ctx, b.ID, items); err != nil {
		return r, nil, err
	}
	st, err := sb.Client.WaitBatch(ctx, b.ID, nil)
	if err != nil {
		return r, nil, err
	}
	r.Seconds = time.Since(start).Seconds()
	if st.Status != "COMPLETED" || st.RunCounts["COMPLETED"] != opts.Runs {
		return r, nil, fmt.Errorf("batch %s ended %s with %v", b.ID, st.Status, st.RunCounts)
	}
	return r, []string{b.ID, runswf.WorkflowID(b.ID)}, nil
}

func printExecTable(w io.Writer, rows []ExecResult) {
	if w == nil || len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nscenario E: %d no-op runs executed to COMPLETED\n", rows[0].Runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tseconds\truns/s\t× anchor\tactions/run\tevents/run\thistory bytes/run\tTemporal CPU ms/run\tworkflow runs\tCPU s (temporal, workers, apis, postgres, bench)\t")
	var anchor float64
	for _, r := range rows {
		if r.System == "anchor" {
			anchor = r.RunsPerS
		}
	}
	for _, r := range rows {
		ratio := 0.0
		if anchor > 0 {
			ratio = r.RunsPerS / anchor
		}
		c := r.CPUSeconds
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\t%.2f\t%.2f\t%.1f\t%.0f\t%.2f\t%d\t%.1f, %.1f, %.1f, %.1f, %.1f\t\n", r.System, r.Seconds, r.RunsPerS, ratio,
			r.PerRun.Actions, r.PerRun.HistoryEvents, r.PerRun.HistoryBytes, r.TemporalCPUMsPerRun, r.WorkflowRuns, c["temporal"], sumKind(c, "worker"), sumKind(c, "api"), c["postgres"], c["bench"])
	}
	tw.Flush()
}

// sumKind adds up the CPU seconds of every process of a kind (worker,
// worker2, …).
func sumKind(cpu map[string]float64, kind string) float64 {
	total := 0.0
	for name, v := range cpu {
		if strings.HasPrefix(name, kind) {
			total += v
		}
	}
	return total
}

func activityName(name string) activity.RegisterOptions { return activity.RegisterOptions{Name: name} }
