package gc

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of garbage collection runs. A nil
// *Metrics records nothing.
type Metrics struct {
	runs     *prometheus.CounterVec
	blobs    prometheus.Counter
	bytes    prometheus.Counter
	duration prometheus.Histogram
	links    prometheus.Counter
}

// NewMetrics returns the series, registered with reg (if not nil):
// berth_gc_runs_total{outcome}, berth_gc_blobs_reclaimed_total,
// berth_gc_bytes_reclaimed_total, berth_gc_links_pruned_total and
// berth_gc_duration_seconds. Dry runs
// are counted as runs (outcome "dry_run") and reclaim nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_gc_runs_total",
			Help: "Garbage collection runs by outcome (ok, error, dry_run).",
		}, []string{"outcome"}),
		blobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_gc_blobs_reclaimed_total",
			Help: "Blobs garbage collection deleted (metadata and bytes).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_gc_bytes_reclaimed_total",
			Help: "Bytes of the blobs garbage collection deleted.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "berth_gc_duration_seconds",
			Help:    "Duration of garbage collection runs.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		links: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_gc_links_pruned_total",
			Help: "Repository-blob links garbage collection removed because no manifest of the repository uses the blob.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.blobs, m.bytes, m.duration, m.links)
	}
	return m
}

// observe records a finished run.
func (m *Metrics) observe(rep Report, err error) {
	if m == nil {
		return
	}
	switch {
	case rep.DryRun:
		m.runs.WithLabelValues("dry_run").Inc()
		return
	case err != nil:
		m.runs.WithLabelValues("error").Inc()
	default:
		m.runs.WithLabelValues("ok").Inc()
	}
	m.blobs.Add(float64(rep.Deleted + rep.Resumed))
	m.bytes.Add(float64(rep.Bytes))
	m.links.Add(float64(rep.LinksPruned))
	m.duration.Observe(rep.Duration.Seconds())
}

var _ prometheus.Collector = (*Metrics)(nil)

// Describe sends the descriptors of the series (prometheus.Collector), so
// that one Metrics can be registered with several registries.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.runs.Describe(ch)
	m.blobs.Describe(ch)
	m.bytes.Describe(ch)
	m.duration.Describe(ch)
	m.links.Describe(ch)
}

// Collect sends the current values of the series (prometheus.Collector).
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.runs.Collect(ch)
	m.blobs.Collect(ch)
	m.bytes.Collect(ch)
	m.duration.Collect(ch)
	m.links.Collect(ch)
}
