package metrics

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// temporalLabels are the tags the Temporal Go SDK puts on its metrics;
// every SDK metric is exported with all of them (missing ones empty), as
// Prometheus wants one label set per metric name. Other tags are dropped.
var temporalLabels = []string{"namespace", "task_queue", "worker_type", "poller_type", "workflow_type",
	"activity_type", "operation", "failure_reason", "cause", "nexus_service", "nexus_operation", "client_name"}

// TemporalHandler returns a client.MetricsHandler that exports the Temporal
// SDK's client and worker metrics (prefixed temporal_) to this registry.
// Pass it as client.Options.MetricsHandler.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return nil
	}
	return &temporalHandler{reg: &temporalRegistry{m: m, vecs: map[string]prometheus.Collector{}}}
}

// temporalRegistry creates one vector per SDK metric name, lazily.
type temporalRegistry struct {
	m    *Metrics
	mu   sync.Mutex
	vecs map[string]prometheus.Collector
}

func (r *temporalRegistry) vec(name string, mk func(name string) prometheus.Collector) prometheus.Collector {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.vecs[name]; ok {
		return v
	}
	v := mk("temporal_" + strings.NewReplacer(".", "_", "-", "_").Replace(name))
	if err := r.m.reg.Register(v); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			v = are.ExistingCollector
		}
	}
	r.vecs[name] = v
	return v
}

type temporalHandler struct {
	reg  *temporalRegistry
	tags map[string]string
}

func (h *temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &temporalHandler{reg: h.reg, tags: merged}
}

func (h *temporalHandler) values() []string {
	vals := make([]string, len(temporalLabels))
	for k, l := range temporalLabels {
		vals[k] = h.tags[l]
	}
	return vals
}

func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	v := h.reg.vec(name, func(n string) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: n + "_total", Help: "Temporal SDK counter " + name}, temporalLabels)
	})
	cv, ok := v.(*prometheus.CounterVec)
	if !ok {
		return client.MetricsNopHandler.Counter(name)
	}
	c := cv.WithLabelValues(h.values()...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

func (h *temporalHandler) Gauge(name string) client.MetricsGauge {
	v := h.reg.vec(name, func(n string) prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: "Temporal SDK gauge " + name}, temporalLabels)
	})
	gv, ok := v.(*prometheus.GaugeVec)
	if !ok {
		return client.MetricsNopHandler.Gauge(name)
	}
	g := gv.WithLabelValues(h.values()...)
	return gaugeFunc(g.Set)
}

func (h *temporalHandler) Timer(name string) client.MetricsTimer {
	v := h.reg.vec(name, func(n string) prometheus.Collector {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n + "_seconds", Help: "Temporal SDK timer " + name, Buckets: latencyBuckets}, temporalLabels)
	})
	hv, ok := v.(*prometheus.HistogramVec)
	if !ok {
		return client.MetricsNopHandler.Timer(name)
	}
	o := hv.WithLabelValues(h.values()...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
