// Package metrics is streambatch's Prometheus instrumentation: one Metrics
// value owns a registry with every streambatch metric, an adapter that
// feeds the Temporal SDK's worker metrics into it, and the HTTP handler
// that serves them. A nil *Metrics is valid and records nothing, so
// components can be used without instrumentation (unit tests).
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the registry and every metric.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger // Handler's error log (nil: none)

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	items           *prometheus.CounterVec
	bodyBytes       prometheus.Counter
	offloadedBytes  prometheus.Counter
	phase2          *prometheus.CounterVec
	chunkStage      *prometheus.HistogramVec
	signal          prometheus.Histogram
	activity        *prometheus.HistogramVec
	activityFailure *prometheus.CounterVec
	rateLimited     *prometheus.CounterVec
	runsStarted     prometheus.Counter
	runsFinished    *prometheus.CounterVec
	runSeconds      prometheus.Histogram
}

// latencyBuckets span 1 ms to ~1 min.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2.5, 13)

// New returns a Metrics with its own registry, including Go runtime and
// process metrics.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streambatch_http_requests_total",
		Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streambatch_http_request_seconds",
		Help: "HTTP request duration by route.", Buckets: latencyBuckets}, []string{"route"})
	m.items = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streambatch_ingest_items_total",
		Help: "Phase 2 items read, by outcome (accepted: new index; deduplicated: index already accepted)."}, []string{"outcome"})
	m.bodyBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "streambatch_ingest_body_bytes_total",
		Help: "Phase 2 request body bytes read."})
	m.offloadedBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "streambatch_ingest_offloaded_bytes_total",
		Help: "Payload bytes written to S3 packet keys during Phase 2."})
	m.phase2 = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streambatch_phase2_requests_total",
		Help: "Phase 2 requests by result: sealed, accepted (every item durably accepted, the seal not reported in time), not_sealed, client_error, server_error."}, []string{"result"})
	m.chunkStage = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streambatch_chunk_stage_seconds",
		Help:    "Time a chunk spends in each stage of Phase 2: uploads (waiting for its packets), stage (S3 PUT of a staged chunk), signal (SignalWithStart).",
		Buckets: latencyBuckets}, []string{"stage"})
	m.signal = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streambatch_signal_seconds",
		Help: "SignalWithStart latency per chunk.", Buckets: latencyBuckets})
	m.activity = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "streambatch_activity_seconds",
		Help: "Activity attempt duration by activity.", Buckets: latencyBuckets}, []string{"activity"})
	m.activityFailure = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streambatch_activity_failures_total",
		Help: "Failed activity attempts by activity."}, []string{"activity"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streambatch_rate_limited_total",
		Help: "Requests refused with 429 by route."}, []string{"route"})
	m.runsStarted = prometheus.NewCounter(prometheus.CounterOpts{Name: "streambatch_runs_started_total",
		Help: "Runs dispatched to task workers (scheduled as activities)."})
	m.runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "streambatch_runs_finished_total",
		Help: "Runs that reached a final status, by status (COMPLETED, FAILED, EXPIRED, TIMED_OUT, CANCELED)."}, []string{"status"})
	m.runSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "streambatch_run_seconds",
		Help: "Run latency: from dispatch to final outcome, retries included.", Buckets: prometheus.ExponentialBuckets(0.005, 3, 14)})
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.items, m.bodyBytes, m.offloadedBytes,
		m.phase2, m.chunkStage, m.signal, m.activity, m.activityFailure, m.rateLimited,
		m.runsStarted, m.runsFinished, m.runSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format. A collector
// that fails (a database query that errs or takes over 2 s) leaves its
// series out of the answer and counts in
// promhttp_metric_handler_errors_total{cause="gathering"}: the scrape
// still gives every other series, rather than a 500 that would hide the
// process's own metrics while PostgreSQL is slow.
// The failure is logged (SetLogger) with its cause.
func (m *Metrics) Handler() http.Handler {
	opts := promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, Registry: m.reg}
	if m.log != nil {
		opts.ErrorLog = scrapeLog{m.log}
	}
	return promhttp.HandlerFor(m.reg, opts)
}

// SetLogger makes Handler log the collectors' failures to l; call it
// before Handler.
func (m *Metrics) SetLogger(l *slog.Logger) { m.log = l }

// scrapeLog is promhttp's error log on a slog.Logger.
type scrapeLog struct{ l *slog.Logger }

// Println logs a scrape's error as a warning.
func (s scrapeLog) Println(v ...any) { s.l.Warn("metrics scrape", "error", fmt.Sprint(v...)) }

// Register adds a collector (e.g. BatchStates).
func (m *Metrics) Register(c prometheus.Collector) {
	if m != nil {
		m.reg.MustRegister(c)
	}
}

// HTTPRequest records one finished request.
func (m *Metrics) HTTPRequest(route, code string, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, code).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Ingested records what one Phase 2 stream read.
func (m *Metrics) Ingested(accepted, deduplicated int, bodyBytes, offloadedBytes int64) {
	if m == nil {
		return
	}
	m.items.WithLabelValues("accepted").Add(float64(accepted))
	m.items.WithLabelValues("deduplicated").Add(float64(deduplicated))
	m.bodyBytes.Add(float64(bodyBytes))
	m.offloadedBytes.Add(float64(offloadedBytes))
}

// Phase2 records a Phase 2 result.
func (m *Metrics) Phase2(result string) {
	if m != nil {
		m.phase2.WithLabelValues(result).Inc()
	}
}

// ChunkStage records the time a chunk spent in a stage.
func (m *Metrics) ChunkStage(stage string, d time.Duration) {
	if m == nil {
		return
	}
	m.chunkStage.WithLabelValues(stage).Observe(d.Seconds())
	if stage == "signal" {
		m.signal.Observe(d.Seconds())
	}
}

// Activity records one activity attempt.
func (m *Metrics) Activity(name string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.activity.WithLabelValues(name).Observe(d.Seconds())
	if err != nil {
		m.activityFailure.WithLabelValues(name).Inc()
	}
}

// RateLimited records a refused request.
func (m *Metrics) RateLimited(route string) {
	if m != nil {
		m.rateLimited.WithLabelValues(route).Inc()
	}
}

// RunsStarted records n runs dispatched to task workers.
func (m *Metrics) RunsStarted(n int) {
	if m != nil && n > 0 {
		m.runsStarted.Add(float64(n))
	}
}

// RunFinished records a run's final status and, when it was dispatched,
// the time from dispatch to that outcome.
func (m *Metrics) RunFinished(status string, latency time.Duration) {
	if m == nil {
		return
	}
	m.runsFinished.WithLabelValues(status).Inc()
	if latency > 0 {
		m.runSeconds.Observe(latency.Seconds())
	}
}

// BatchStates is a collector of the number of batches by state, read from
// the database at scrape time.
type BatchStates struct {
	desc  *prometheus.Desc
	count func(ctx context.Context) (map[string]int, error)
}

// NewBatchStates returns the collector; count queries the database.
func NewBatchStates(count func(ctx context.Context) (map[string]int, error)) *BatchStates {
	return &BatchStates{desc: prometheus.NewDesc("streambatch_batches", "Batches by state.", []string{"state"}, nil), count: count}
}

// Describe implements prometheus.Collector.
func (b *BatchStates) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

// Collect implements prometheus.Collector.
func (b *BatchStates) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := b.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(b.desc, err)
		return
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, float64(n), state)
	}
}

// QueueWaiting is the runs of one environment and queue that were
// dispatched to their task queue and wait for a task worker.
type QueueWaiting struct {
	Env, Queue string
	Runs       int
	// Since is when the longest-waiting was dispatched (nil: unknown).
	Since *time.Time
}

// maxWaitingSeries bounds the series RunsWaiting exposes: queue names are
// the tenants' own; the rest are summed under env and queue "(other)".
const maxWaitingSeries = 200

// RunsWaiting is a collector of the runs waiting for a task worker, by
// environment and queue, read from the database at scrape time:
// streambatch_runs_waiting_for_worker and
// streambatch_runs_waiting_for_worker_oldest_seconds.
type RunsWaiting struct {
	runs, oldest *prometheus.Desc
	list         func(ctx context.Context) ([]QueueWaiting, error)
	now          func() time.Time
}

// NewRunsWaiting returns the collector; list queries the database.
func NewRunsWaiting(list func(ctx context.Context) ([]QueueWaiting, error)) *RunsWaiting {
	labels := []string{"env", "queue"}
	return &RunsWaiting{
		runs: prometheus.NewDesc("streambatch_runs_waiting_for_worker",
			"Runs dispatched to their task queue (runs.<env>[.<queue>]) that no task worker has started, by environment and options.queue name (\"\" for none).", labels, nil),
		oldest: prometheus.NewDesc("streambatch_runs_waiting_for_worker_oldest_seconds",
			"How long the longest-waiting of those runs has waited since its dispatch.", labels, nil),
		list: list, now: time.Now,
	}
}

// Describe implements prometheus.Collector.
func (r *RunsWaiting) Describe(ch chan<- *prometheus.Desc) { ch <- r.runs; ch <- r.oldest }

// Collect implements prometheus.Collector.
func (r *RunsWaiting) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	all, err := r.list(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(r.runs, err)
		return
	}
	now := r.now()
	for _, w := range capSeries(all, maxWaitingSeries) {
		ch <- prometheus.MustNewConstMetric(r.runs, prometheus.GaugeValue, float64(w.Runs), w.Env, w.Queue)
		if w.Since != nil {
			ch <- prometheus.MustNewConstMetric(r.oldest, prometheus.GaugeValue, max(now.Sub(*w.Since).Seconds(), 0), w.Env, w.Queue)
		}
	}
}

// capSeries keeps the n-1 groups with the most runs and sums the rest
// under "(other)" when there are more than n.
func capSeries(all []QueueWaiting, n int) []QueueWaiting {
	if len(all) <= n {
		return all
	}
	sorted := slices.Clone(all)
	slices.SortStableFunc(sorted, func(a, b QueueWaiting) int { return b.Runs - a.Runs })
	other := QueueWaiting{Env: "(other)", Queue: "(other)"}
	for _, w := range sorted[n-1:] {
		other.Runs += w.Runs
		if w.Since != nil && (other.Since == nil || w.Since.Before(*other.Since)) {
			other.Since = w.Since
		}
	}
	return append(sorted[:n-1:n-1], other)
}
