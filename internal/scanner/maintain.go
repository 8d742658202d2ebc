package scanner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
)

// sweepBatch bounds each step of the maintenance pass.
const sweepBatch = 1000

// Maintain is the periodic scanning housekeeping, safe to run on every
// replica: it queues manifests that have no report in projects that scan
// on push (pushed while scanning was off, or whose queueing a crash
// lost), queues the scans that are due again (scan.rescan, or made by
// another scanner version), re-matches reports the vulnerability data has
// moved past, and removes the reports of manifests no repository stores.
func (s *Service) Maintain(ctx context.Context) error {
	var errs []error
	if n, err := s.queueUnscanned(ctx); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "queued scans of artifacts without a report", "count", n)
	}
	var before time.Time
	if s.cfg.Rescan > 0 {
		before = s.now().Add(-s.cfg.Rescan)
	}
	name := s.scannerName(ctx)
	if s.cfg.External != nil {
		if _, err := s.cfg.External.Name(ctx); err != nil {
			// Without the adapter's name every report would look made by
			// another scanner; requeue next time.
			name, before = "", time.Time{}
			errs = append(errs, fmt.Errorf("external scanner: %w", err))
		}
	}
	for name != "" || !before.IsZero() {
		n, err := s.scans.RequeueScans(ctx, before, name, sweepBatch, s.now())
		if err != nil {
			errs = append(errs, fmt.Errorf("queue rescans: %w", err))
			break
		}
		if n > 0 {
			s.log.InfoContext(ctx, "queued rescans", "count", n)
			s.Kick()
		}
		if n < sweepBatch {
			break
		}
	}
	if _, err := s.Rematch(ctx, nil); err != nil {
		errs = append(errs, err)
	}
	for {
		n, err := s.scans.DeleteOrphanScanReports(ctx, sweepBatch)
		if err != nil {
			errs = append(errs, fmt.Errorf("remove reports of deleted manifests: %w", err))
			break
		}
		if n < sweepBatch {
			break
		}
	}
	return errors.Join(errs...)
}

// queueUnscanned queues every manifest without a report whose project
// scans on push.
func (s *Service) queueUnscanned(ctx context.Context) (int, error) {
	total := 0
	var after digest.Digest
	for {
		reqs, err := s.scans.UnscannedManifests(ctx, after, sweepBatch)
		if err != nil {
			return total, fmt.Errorf("list unscanned manifests: %w", err)
		}
		if len(reqs) == 0 {
			return total, nil
		}
		after = reqs[len(reqs)-1].Digest
		var queue []meta.ScanRequest
		for _, r := range reqs {
			pol, err := s.policies.policy(ctx, s, access.ProjectOf(r.Repository))
			if err == nil && pol.ScanOnPush {
				queue = append(queue, r)
			}
		}
		if len(queue) > 0 {
			n, err := s.scans.QueueScans(ctx, queue, false, s.now())
			if err != nil {
				return total, fmt.Errorf("queue unscanned manifests: %w", err)
			}
			total += n
			s.Kick()
		}
		if len(reqs) < sweepBatch {
			return total, nil
		}
	}
}

// Metrics are the scanning series.
type Metrics struct {
	queued    prometheus.Counter
	finished  *prometheus.CounterVec
	duration  prometheus.Histogram
	rematched prometheus.Counter
	denied    prometheus.Counter
}

// defaultMetrics is the process's one set; every server registers it.
var defaultMetrics = newMetrics()

func newMetrics() *Metrics {
	return &Metrics{
		queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_scan_queued_total", Help: "Scans queued (on push, on demand, by the sweep or a waiting pull).",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_scan_finished_total", Help: "Scans finished, by status (done, failed, unsupported).",
		}, []string{"status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "berth_scan_duration_seconds", Help: "Time one scan took, from claim to stored result.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
		rematched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_scan_rematched_total", Help: "Stored reports re-matched against new vulnerability data.",
		}),
		denied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "berth_scan_gate_denied_total", Help: "Pulls the vulnerability gate denied.",
		}),
	}
}

// Collectors returns the scanning metrics, to register once per registry.
func Collectors() []prometheus.Collector {
	m := defaultMetrics
	return []prometheus.Collector{m.queued, m.finished, m.duration, m.rematched, m.denied}
}
