package server

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/jobs"
)

// gcMetrics are the garbage collection series; every server of the
// process registers the same set with its own registry.
var gcMetrics = gc.NewMetrics(nil)

// gcTimeout bounds one periodic collection.
const gcTimeout = 6 * time.Hour

// gcTasks is the periodic garbage collection job, or none when gc.enabled
// is off or the metadata store cannot collect.
func (s *Server) gcTasks() []jobs.Periodic {
	if !s.cfg.GC.Enabled {
		return nil
	}
	c, err := gc.New(s.meta, s.blobs, gc.Config{Logger: s.log.With("component", "gc"), Metrics: gcMetrics})
	if err != nil {
		s.log.Warn("garbage collection is off", "err", err)
		return nil
	}
	return []jobs.Periodic{{
		Name:     "gc",
		Interval: s.cfg.GC.Interval,
		Timeout:  gcTimeout,
		Run: func(ctx context.Context) error {
			_, err := c.Run(ctx, gc.Options{})
			return err
		},
	}}
}
