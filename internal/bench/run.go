package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/streambatch/streambatch/client"
)

// Systems in the order they run for each scenario.
const (
	SystemFloor       = "floor"
	SystemStreambatch = "streambatch"
	// SystemStreambatchUpload is streambatch with the client uploading
	// payloads of 128 KiB or more to presigned URLs itself (the trigger.dev
	// SDK's path), the stream carrying references.
	SystemStreambatchUpload = "streambatch-upload"
	SystemPMap10            = "pmap10"
	SystemSequential        = "sequential"
)

// AllSystems lists every system.
var AllSystems = []string{SystemFloor, SystemStreambatch, SystemStreambatchUpload, SystemPMap10, SystemSequential}

// isStreambatch reports the systems that run through the API.
func isStreambatch(sys string) bool {
	return sys == SystemStreambatch || sys == SystemStreambatchUpload
}

// ClientUploadThreshold is the payload size from which the
// streambatch-upload system uploads payloads itself (the trigger.dev
// SDK's), and ClientUploads its uploads in flight.
const (
	ClientUploadThreshold = 128 << 10
	ClientUploads         = 64
)

// Result is one (scenario, latency, system) measurement; --json writes one
// per line.
type Result struct {
	Scenario       string  `json:"scenario"`
	S3LatencyMs    int64   `json:"s3_latency_ms"`
	System         string  `json:"system"`
	Seconds        float64 `json:"seconds"`
	ItemsPerS      float64 `json:"items_per_s"`
	MiBPerS        float64 `json:"mib_per_s"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	APIRSSBytes    int64   `json:"api_rss_bytes,omitempty"`
	WorkerRSSBytes int64   `json:"worker_rss_bytes,omitempty"`
	HistoryEvents  int64   `json:"history_events,omitempty"`
	WorkflowRuns   int     `json:"workflow_runs,omitempty"`
	Attempts       int     `json:"phase2_requests,omitempty"`
	S3Requests     int64   `json:"s3_requests"`
	S3Puts         int64   `json:"s3_puts"`
	S3Gets         int64   `json:"s3_gets"`
	S3Heads        int64   `json:"s3_heads"`
	// CPUSeconds is the CPU time by process during a streambatch run.
	CPUSeconds map[string]float64 `json:"cpu_seconds,omitempty"`
	// Cost is what Temporal charged for every batch of a streambatch run,
	// read once every batch is sealed (ingest, seal and the runs dispatched
	// by then: the scenarios' runs do not execute), and PerRun the same per
	// item. TemporalCPUMsPerRun is the Temporal server's CPU time per item.
	Cost                *Cost   `json:"cost,omitempty"`
	PerRun              *PerRun `json:"per_run,omitempty"`
	TemporalCPUMsPerRun float64 `json:"temporal_cpu_ms_per_run,omitempty"`
	Items               int     `json:"items"`
	PayloadBytes        int64   `json:"payload_bytes"`
	Error               string  `json:"error,omitempty"`
	// workflowIDs are a streambatch run's workflows, for Cost.
	workflowIDs []string
}

// Options select what Run measures.
type Options struct {
	Scenarios []Scenario
	Latencies []time.Duration
	Systems   []string
	// JSON receives one Result per line (nil: none).
	JSON io.Writer
	// Table receives the human-readable tables.
	Table io.Writer
	// CPU names processes whose CPU time every measurement reports
	// (PostgreSQL with its backends).
	CPU map[string]int
}

// Run measures every selected (latency, scenario, system) in turn.
func Run(ctx context.Context, sb *Streambatch, base *Baselines, proxy *LatencyProxy, opts Options) ([]Result, error) {
	var all []Result
	for _, lat := range opts.Latencies {
		proxy.SetDelay(lat)
		for _, sc := range opts.Scenarios {
			var rows []Result
			for _, sys := range AllSystems {
				if !slices.Contains(opts.Systems, sys) {
					continue
				}
				cpu0 := cpuTimes(opts.CPU)
				r := measure(ctx, sb, base, proxy, sc, lat, sys)
				r.CPUSeconds = cpuTimes(opts.CPU)
				for n, v := range cpu0 {
					r.CPUSeconds[n] -= v
				}
				if len(r.workflowIDs) > 0 && r.Error == "" {
					// After the CPU reading: reading histories costs Temporal too.
					c, err := CostOf(ctx, sb.Temporal, r.workflowIDs...)
					if err != nil {
						r.Error = "cost: " + err.Error()
					} else {
						per := c.Per(r.Items)
						r.Cost, r.PerRun = &c, &per
						r.TemporalCPUMsPerRun = 1000 * r.CPUSeconds["temporal"] / float64(r.Items)
					}
				}
				if opts.JSON != nil {
					line, _ := json.Marshal(r)
					fmt.Fprintf(opts.JSON, "%s\n", line)
				}
				rows = append(rows, r)
				if ctx.Err() != nil {
					return all, ctx.Err()
				}
			}
			printTable(opts.Table, sc, lat, rows)
			all = append(all, rows...)
		}
	}
	return all, nil
}

func measure(ctx context.Context, sb *Streambatch, base *Baselines, proxy *LatencyProxy, sc Scenario, lat time.Duration, sys string) Result {
	r := Result{Scenario: sc.Name, S3LatencyMs: lat.Milliseconds(), System: sys,
		Items: sc.Items * sc.Batches, PayloadBytes: sc.PayloadBytes() * int64(sc.Batches)}
	self := os.Getpid()
	_ = ResetPeak(self)
	proxy.Reset()
	var d time.Duration
	var err error
	switch sys {
	case SystemStreambatch, SystemStreambatchUpload:
		var opts []client.StreamOption
		if sys == SystemStreambatchUpload {
			opts = append(opts, client.WithPayloadUploads(ClientUploadThreshold, ClientUploads))
		}
		var m Measure
		m, err = sb.Run(ctx, sc, opts...)
		d = time.Duration(m.Seconds * float64(time.Second))
		r.APIRSSBytes, r.WorkerRSSBytes = m.APIRSS, m.WorkerRSS
		r.PeakRSSBytes = m.APIRSS + m.WorkerRSS
		r.HistoryEvents, r.WorkflowRuns, r.Attempts = m.HistoryEvents, m.WorkflowRuns, m.Attempts
		r.workflowIDs = m.WorkflowIDs
	case SystemFloor:
		d, err = base.Floor(ctx, sc)
	case SystemPMap10:
		d, err = base.PMap10(ctx, sc)
	case SystemSequential:
		d, err = base.Sequential(ctx, sc)
	}
	if !isStreambatch(sys) {
		r.PeakRSSBytes, _ = PeakRSS(self)
	}
	c := proxy.Counts()
	r.S3Requests, r.S3Puts, r.S3Gets, r.S3Heads = c.Total(), c.PUT, c.GET, c.HEAD
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Seconds = d.Seconds()
	if r.Seconds > 0 {
		r.ItemsPerS = float64(r.Items) / r.Seconds
		r.MiBPerS = float64(r.PayloadBytes) / (1 << 20) / r.Seconds
	}
	if !isStreambatch(sys) {
		if cerr := base.Cleanup(ctx); cerr != nil && r.Error == "" {
			r.Error = "cleanup: " + cerr.Error()
		}
	}
	return r
}

func cpuTimes(pids map[string]int) map[string]float64 {
	out := map[string]float64{}
	for n, pid := range pids {
		out[n] = CPUSeconds(pid, n == "postgres")
	}
	return out
}

func printTable(w io.Writer, sc Scenario, lat time.Duration, rows []Result) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "\nscenario %s — %s (%.0f MiB) — S3 latency %s\n", sc.Name, sc.Description,
		float64(sc.PayloadBytes()*int64(sc.Batches))/(1<<20), lat)
	floor := 0.0
	for _, r := range rows {
		if r.System == SystemFloor && r.Error == "" {
			floor = r.Seconds
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tseconds\titems/s\tMiB/s\t× floor\tpeak RSS MiB\thistory events\twf runs\tS3 requests\tactions/item\tevents/item\thistory bytes/item\tTemporal CPU ms/item\t")
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\tERROR: %s\t\t\t\t\t\t\t\t\t\t\t\t\n", r.System, strings.ReplaceAll(r.Error, "\t", " "))
			continue
		}
		ratio := "-"
		if floor > 0 {
			ratio = fmt.Sprintf("%.2f", r.Seconds/floor)
		}
		hist, runs := "-", "-"
		if isStreambatch(r.System) {
			hist, runs = fmt.Sprint(r.HistoryEvents), fmt.Sprint(r.WorkflowRuns)
		}
		cost := "-\t-\t-\t-"
		if r.PerRun != nil {
			cost = fmt.Sprintf("%.3f\t%.2f\t%.0f\t%.3f", r.PerRun.Actions, r.PerRun.HistoryEvents, r.PerRun.HistoryBytes, r.TemporalCPUMsPerRun)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\t%.1f\t%s\t%.0f\t%s\t%s\t%d\t%s\t\n", r.System, r.Seconds, r.ItemsPerS, r.MiBPerS, ratio,
			float64(r.PeakRSSBytes)/(1<<20), hist, runs, r.S3Requests, cost)
	}
	tw.Flush()
	for _, r := range rows {
		if len(r.CPUSeconds) > 0 {
			names := make([]string, 0, len(r.CPUSeconds))
			for n := range r.CPUSeconds {
				names = append(names, n)
			}
			slices.Sort(names)
			parts := make([]string, len(names))
			for k, n := range names {
				parts[k] = fmt.Sprintf("%s %.2f", n, r.CPUSeconds[n])
			}
			fmt.Fprintf(w, "  %s CPU seconds: %s\n", r.System, strings.Join(parts, ", "))
		}
	}
}
