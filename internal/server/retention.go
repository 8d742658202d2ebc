package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/retention/run"
)

// retentionMetrics are the retention run series; every server of the
// process registers the same set with its own registry.
var retentionMetrics = run.NewMetrics(nil)

// retentionTick is how often due policies are started and the trash is
// purged.
const retentionTick = time.Minute

// newRetention builds the retention executor on m, or returns nil (the
// retention routes then answer 503) when the store cannot keep policies.
func newRetention(cfg config.Config, m meta.Store, log *slog.Logger) *run.Service {
	svc, err := run.New(run.Config{
		Store:         m,
		RestoreWindow: cfg.Retention.RestoreWindow,
		Logger:        log.With("component", "retention"),
		Metrics:       retentionMetrics,
	})
	if err != nil {
		log.Warn("retention policies are off", "err", err)
		return nil
	}
	return svc
}

// watchStaleRuns starts, once the server runs, the watch for retention
// runs whose process died (a restart of this one included), so they are
// marked interrupted within seconds rather than at the next minute's job;
// stopRetention ends it. A Server built and never run polls nothing.
func (s *Server) watchStaleRuns() {
	if s.access != nil && s.access.retention != nil {
		s.access.retention.WatchStale()
	}
}

// retentionTasks is the once-a-minute retention job (scheduled runs,
// orphaned runs, a second look at interrupted ones, trash purge), or none when
// retention.enabled is off or there is no executor.
func (s *Server) retentionTasks() []jobs.Periodic {
	svc := s.access.retention
	if !s.cfg.Retention.Enabled || svc == nil {
		return nil
	}
	return []jobs.Periodic{{
		Name:     "retention",
		Interval: retentionTick,
		Timeout:  6 * time.Hour,
		Run:      func(ctx context.Context) error { return svc.Tick(ctx) },
	}}
}

// stopRetention ends the retention runs this process works in the
// background; they are recorded as interrupted and the next run starts
// afresh.
func (s *Server) stopRetention() {
	if s.access != nil && s.access.retention != nil {
		s.access.retention.Close()
	}
}
