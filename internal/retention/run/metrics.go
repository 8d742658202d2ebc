package run

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of retention runs. A nil *Metrics
// records nothing.
type Metrics struct {
	runs      *prometheus.CounterVec
	tags      prometheus.Counter
	manifests prometheus.Counter
	duration  prometheus.Histogram
}

// NewMetrics returns the series, registered with reg (if not nil):
// berth_retention_runs_total{status} (succeeded, failed, interrupted; dry
// runs as dry_run), berth_retention_tags_deleted_total,
// berth_retention_manifests_deleted_total and
// berth_retention_run_duration_seconds. Dry runs delete nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_retention_runs_total",
			Help: "Retention runs by final status (succeeded, failed, interrupted, dry_run).",
		}, []string{"status"}),
		tags: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_retention_tags_deleted_total",
			Help: "Tags retention runs moved to the trash.",
		}),
		manifests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_retention_manifests_deleted_total",
			Help: "Manifests retention runs moved to the trash (deleted when the trash is purged).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "berth_retention_run_duration_seconds",
			Help:    "Duration of retention runs.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.tags, m.manifests, m.duration)
	}
	return m
}

// observe records a finished run.
func (m *Metrics) observe(status string, dry bool, tags, manifests int64, d time.Duration) {
	if m == nil {
		return
	}
	if dry && status == "succeeded" {
		status = "dry_run"
	}
	m.runs.WithLabelValues(status).Inc()
	if !dry {
		m.tags.Add(float64(tags))
		m.manifests.Add(float64(manifests))
	}
	m.duration.Observe(d.Seconds())
}

// Describe sends the series' descriptions (prometheus.Collector), so one
// Metrics can be registered with several registries.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.runs.Describe(ch)
	m.tags.Describe(ch)
	m.manifests.Describe(ch)
	m.duration.Describe(ch)
}

// Collect sends the current values of the series (prometheus.Collector).
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.runs.Collect(ch)
	m.tags.Collect(ch)
	m.manifests.Collect(ch)
	m.duration.Collect(ch)
}
