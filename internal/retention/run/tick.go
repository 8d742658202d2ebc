package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// Tick is the periodic work of retention, run about once a minute by one
// process at a time: it marks interrupted the running runs whose
// heartbeat is stale, starts the runs of policies that are due (and
// schedules their next), works the queued runs no executor claimed, and
// purges the trash. It returns the errors it met, joined, after doing
// what it could.
func (s *Service) Tick(ctx context.Context) error {
	var errs []error
	errs = append(errs, s.interruptStale(ctx))
	errs = append(errs, s.startDue(ctx))
	errs = append(errs, s.workQueued(ctx))
	_, err := s.Purge(ctx)
	errs = append(errs, err)
	return errors.Join(errs...)
}

// interruptStale marks running runs with a stale heartbeat interrupted.
func (s *Service) interruptStale(ctx context.Context) error {
	running, err := s.store.ListRetentionRunsByStatus(ctx, meta.RunRunning)
	if err != nil {
		return fmt.Errorf("retention: list running runs: %w", err)
	}
	stale := s.cfg.Now().Add(-s.cfg.StaleAfter)
	for _, r := range running {
		if _, mine := s.active.Load(r.ID); mine || !r.HeartbeatAt.Before(stale) {
			continue
		}
		owner := r.Owner
		if owner == "" {
			owner = "unknown"
		}
		ok, err := s.store.InterruptRetentionRun(ctx, r.ID, stale,
			"interrupted: the process working the run ("+owner+") stopped (no heartbeat since "+
				r.HeartbeatAt.UTC().Format(time.RFC3339)+")")
		if err != nil {
			return fmt.Errorf("retention: interrupt run %d: %w", r.ID, err)
		}
		if ok {
			s.cfg.Metrics.observe(string(meta.RunInterrupted), r.DryRun, 0, 0, 0)
			s.log.WarnContext(ctx, "retention run interrupted", "run", r.ID, "heartbeat", r.HeartbeatAt)
		}
	}
	return nil
}

// startDue queues runs of the policies that are due and moves their next
// run on; a project whose previous run is still queued or running is not
// started twice.
func (s *Service) startDue(ctx context.Context) error {
	now := s.cfg.Now()
	due, err := s.store.ListDueRetentionPolicies(ctx, now)
	if err != nil {
		return fmt.Errorf("retention: list due policies: %w", err)
	}
	var errs []error
	for _, p := range due {
		sched, err := ParseSchedule(p.Schedule)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.store.SetRetentionNextRun(ctx, p.ProjectID, sched.Next(now)); err != nil {
			errs = append(errs, err)
			continue
		}
		busy, err := s.busy(ctx, p.ProjectID)
		if err != nil || busy {
			errs = append(errs, err)
			continue
		}
		r := &meta.RetentionRun{ProjectID: p.ProjectID, Trigger: TriggerSchedule, CreatedAt: now, CreatedBy: "schedule"}
		if err := s.store.CreateRetentionRun(ctx, r); errdefs.IsConflict(err) {
			continue // another process started one meanwhile
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		s.executeLogged(ctx, r.ID)
	}
	return errors.Join(errs...)
}

// busy reports whether project has a queued or running run.
func (s *Service) busy(ctx context.Context, projectID int64) (bool, error) {
	runs, err := s.store.ListRetentionRuns(ctx, projectID, 0, 5)
	if err != nil {
		return false, err
	}
	for _, r := range runs {
		if !r.Status.Finished() {
			return true, nil
		}
	}
	return false, nil
}

// workQueued works the queued runs that no executor claimed (their
// process stopped before it could).
func (s *Service) workQueued(ctx context.Context) error {
	queued, err := s.store.ListRetentionRunsByStatus(ctx, meta.RunQueued)
	if err != nil {
		return fmt.Errorf("retention: list queued runs: %w", err)
	}
	for _, r := range queued {
		s.executeLogged(ctx, r.ID)
	}
	return nil
}

// executeLogged works run id and logs its failure: the run row records
// it, so it is no reason to retry the periodic job.
func (s *Service) executeLogged(ctx context.Context, id int64) {
	if err := s.Execute(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "retention run failed", "run", id, "err", err)
	}
}
