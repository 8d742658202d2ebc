// Package run carries out retention policies: it stores each project's
// policy, runs it over the project's repositories (load a snapshot from the
// metadata store, retention.Evaluate it, move what goes to the trash),
// records progress and a report per run, schedules runs, purges the trash
// once the restore window has passed, and restores trashed tags.
//
// A run is a row of the metadata store (meta.RetentionStore): Start queues
// it and an executor of this process claims it at once; a queued run that
// no executor claimed (the process stopped first) is claimed by the
// periodic Tick of any process. A claimed run records the instance id of
// its process (Config.Instance) and writes a heartbeat every second; a
// running run whose heartbeat is older than Config.StaleAfter (ten
// seconds: its process died) is marked interrupted by the stale-run
// watcher that every process runs (WatchStale: at start, then every
// StaleAfter/2) and by Tick, and the next run starts from a fresh
// snapshot. A process never interrupts a run it is working itself. A
// project has at most one real run queued or running at a time, across
// processes: Start refuses a second one (ErrConflict). A dry run takes
// the same path with the trash step turned off, so its report lists
// exactly what a real run at that moment would delete, and why.
//
// A run changes the registry in one short transaction per batch of tags,
// which also appends the batch's report lines and stores the run's
// progress counters: a crash loses a whole batch or nothing, never the
// report of what was trashed. Each tag is trashed only if it still points
// at the digest the plan saw (a tag moved since is skipped and reported),
// and an untagged manifest is trashed only if it is still untagged. Manifests are deleted only by
// the purge (see meta.RetentionStore.PurgeTrash), after the restore window.
package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/retention"
	"github.com/opencontainers/go-digest"
)

// Triggers of a run.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
)

// Config configures a Service.
type Config struct {
	// Store is the metadata store (it may be a caching decorator: tags
	// the executor trashes are invalidated through it).
	Store meta.Store
	// RestoreWindow is how long a trashed tag stays restorable. Zero
	// means 168h.
	RestoreWindow time.Duration
	// Logger receives run logs; nil discards them.
	Logger *slog.Logger
	// Metrics records runs; nil records nothing.
	Metrics *Metrics
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Heartbeat is how often a working run writes its heartbeat (and,
	// at most as often, the progress counts that batches do not store).
	// Zero means one second.
	Heartbeat time.Duration
	// StaleAfter is how old a running run's heartbeat may be before
	// another process (or this one, after a restart) marks it
	// interrupted; it must be several Heartbeats, and more than the
	// clock difference between the processes sharing the store. Zero
	// means ten seconds.
	StaleAfter time.Duration
	// Instance names this process in the runs it claims; empty means
	// the host name, the process id and a random suffix.
	Instance string
	// BatchSize bounds the tags one apply transaction trashes. Zero
	// means 500.
	BatchSize int
}

// Service runs retention policies. It is safe for concurrent use; Close
// stops the runs it has in progress.
type Service struct {
	cfg   Config
	meta  meta.Store
	store meta.RetentionStore
	imm   meta.ImmutabilityStore // nil: no rules
	log   *slog.Logger

	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// active holds the IDs of the runs this Service is working (their
	// heartbeat may lag while the store is slow; they are never stale).
	active sync.Map

	// beforeApply, when set (by tests), is called after a repository was
	// evaluated and before its plan is applied.
	beforeApply func(repo string)
}

// New returns a Service on cfg.Store, which must have a
// meta.RetentionStore (else ErrUnsupported).
func New(cfg Config) (*Service, error) {
	rs, ok := meta.RetentionOf(cfg.Store)
	if !ok {
		return nil, errdefs.Unsupported("retention: the metadata store cannot keep retention policies")
	}
	if cfg.RestoreWindow <= 0 {
		cfg.RestoreWindow = 168 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 10 * time.Second
	}
	if cfg.Instance == "" {
		cfg.Instance = instanceID()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	imm, _ := meta.ImmutabilityOf(cfg.Store)
	base, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg, meta: cfg.Store, store: rs, imm: imm, log: log, base: base, cancel: cancel}, nil
}

// instanceID returns a name for this process that a restart does not
// reuse: host name, process id and a random suffix.
func instanceID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "berth"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Instance returns the id this Service records in the runs it claims.
func (s *Service) Instance() string { return s.cfg.Instance }

// WatchStale starts marking interrupted, in the background until Close,
// the running runs whose process stopped (heartbeat older than
// StaleAfter): at once, then every StaleAfter/2. So a run killed with
// its process is marked interrupted within about 1.5×StaleAfter of its
// last heartbeat, by whichever process (a restarted one, or another
// replica) looks first; runs of live processes keep heartbeating and are
// left alone.
func (s *Service) WatchStale() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.cfg.StaleAfter / 2)
		defer t.Stop()
		for {
			if err := s.interruptStale(s.base); err != nil && s.base.Err() == nil {
				s.log.Warn("retention: cannot check for stale runs", "err", err)
			}
			select {
			case <-s.base.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Wait waits for the runs this Service started in the background to end.
func (s *Service) Wait() { s.wg.Wait() }

// Close stops the runs this Service started in the background (they are
// marked interrupted) and the stale-run watcher, and waits for them.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// PolicyInput is what a caller sets on a project's policy.
type PolicyInput struct {
	// Policy is the policy document (retention.Parse reads it).
	Policy json.RawMessage
	// Schedule is "" (manual runs only), a duration such as "24h", or
	// "daily@HH:MM" (UTC).
	Schedule string
	Enabled  bool
	// By names who sets it.
	By string
}

// project returns the project called name or ErrNotFound.
func (s *Service) project(ctx context.Context, name string) (*meta.Project, error) {
	return s.meta.GetProject(ctx, name)
}

// GetPolicy returns the policy of project, ErrNotFound if it has none.
func (s *Service) GetPolicy(ctx context.Context, project string) (_ *meta.RetentionPolicy, err error) {
	defer errdefs.Wrapf(&err, "retention policy of %s", project)
	p, err := s.project(ctx, project)
	if err != nil {
		return nil, err
	}
	return s.store.GetRetentionPolicy(ctx, p.ID)
}

// PutPolicy validates in and stores it as the policy of project (replacing
// any), scheduling its next run. Invalid documents and schedules are
// ErrInvalid.
func (s *Service) PutPolicy(ctx context.Context, project string, in PolicyInput) (_ *meta.RetentionPolicy, err error) {
	defer errdefs.Wrapf(&err, "set retention policy of %s", project)
	if _, err := retention.Parse(in.Policy); err != nil {
		return nil, err
	}
	sched, err := ParseSchedule(in.Schedule)
	if err != nil {
		return nil, err
	}
	p, err := s.project(ctx, project)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	pol := &meta.RetentionPolicy{ProjectID: p.ID, Policy: string(in.Policy), Schedule: in.Schedule,
		Enabled: in.Enabled, UpdatedAt: now, UpdatedBy: in.By}
	if in.Enabled {
		pol.NextRunAt = sched.Next(now)
	}
	if err := s.store.PutRetentionPolicy(ctx, pol); err != nil {
		return nil, err
	}
	return pol, nil
}

// DeletePolicy removes the policy of project; ErrNotFound if none.
func (s *Service) DeletePolicy(ctx context.Context, project string) (err error) {
	defer errdefs.Wrapf(&err, "delete retention policy of %s", project)
	p, err := s.project(ctx, project)
	if err != nil {
		return err
	}
	return s.store.DeleteRetentionPolicy(ctx, p.ID)
}

// Runs returns up to limit runs of project, newest first, with IDs below
// before (0: from the newest).
func (s *Service) Runs(ctx context.Context, project string, before int64, limit int) (_ []meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "retention runs of %s", project)
	p, err := s.project(ctx, project)
	if err != nil {
		return nil, err
	}
	return s.store.ListRetentionRuns(ctx, p.ID, before, limit)
}

// GetRun returns run id of project; ErrNotFound if project has no such
// run.
func (s *Service) GetRun(ctx context.Context, project string, id int64) (_ *meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "retention run %d of %s", id, project)
	p, err := s.project(ctx, project)
	if err != nil {
		return nil, err
	}
	r, err := s.store.GetRetentionRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.ProjectID != p.ID {
		return nil, errdefs.NotFound("retention run %d not found", id)
	}
	return r, nil
}

// Report returns up to limit lines of the report of run id of project,
// after line `after`.
func (s *Service) Report(ctx context.Context, project string, id, after int64, limit int) ([]meta.RetentionDecision, error) {
	if _, err := s.GetRun(ctx, project, id); err != nil {
		return nil, err
	}
	lines, err := s.store.ListRetentionReport(ctx, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("report of retention run %d: %w", id, err)
	}
	return lines, nil
}

// Trash returns up to limit trash rows of project, newest first, with IDs
// below before (0: from the newest).
func (s *Service) Trash(ctx context.Context, project string, before int64, limit int) (_ []meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "retention trash of %s", project)
	if _, err := s.project(ctx, project); err != nil {
		return nil, err
	}
	return s.store.ListTrash(ctx, project, before, limit)
}

// Restore puts tag of repository repo (in project) back at the digest it
// had when retention trashed it (the newest trash row of that tag); with
// tag "" it takes the untagged manifest dgst out of the trash. The
// manifest must still exist (ErrNotFound) and the tag be free or already
// at that digest (ErrConflict).
func (s *Service) Restore(ctx context.Context, project, repo, tag string, dgst digest.Digest) (_ *meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "restore %s:%s", repo, tag)
	if repo != project && !hasPrefix(repo, project+"/") {
		return nil, errdefs.Invalid("repository %s is not in project %s", repo, project)
	}
	if tag == "" && dgst == "" {
		return nil, errdefs.Invalid("a tag or, for an untagged manifest, a digest is required")
	}
	r, err := s.meta.GetRepository(ctx, repo)
	if err != nil {
		return nil, err
	}
	e, err := s.store.RestoreTrash(ctx, r.ID, tag, dgst)
	if err != nil {
		return nil, err
	}
	s.invalidate(meta.Change{RepositoryID: r.ID, Tag: tag})
	return e, nil
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

// invalidator is a caching store (package meta/cache) that must forget
// what the backend changed behind its back.
type invalidator interface {
	Invalidate(changes ...meta.Change)
}

// invalidate tells a caching store about changes made directly in the
// backend.
func (s *Service) invalidate(changes ...meta.Change) {
	if inv, ok := s.meta.(invalidator); ok && len(changes) > 0 {
		inv.Invalidate(changes...)
	}
}

// Purge drops the trash rows whose restore window has passed and deletes
// the manifests nothing keeps any more (see meta.RetentionStore).
func (s *Service) Purge(ctx context.Context) (meta.PurgeResult, error) {
	res, err := s.store.PurgeTrash(ctx, s.cfg.Now())
	s.invalidate(res.Deleted...)
	if err != nil {
		return res, fmt.Errorf("purge retention trash: %w", err)
	}
	if res.Entries > 0 {
		s.log.InfoContext(ctx, "purged retention trash", "entries", res.Entries, "manifests", len(res.Deleted))
	}
	return res, nil
}
