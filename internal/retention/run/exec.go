package run

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/policy"
	"github.com/berth-registry/berth/internal/retention"
	"github.com/opencontainers/go-digest"
)

// Outcomes of report lines.
const (
	OutcomeDeleted     = "deleted"
	OutcomeWouldDelete = "would delete"
	OutcomeSkipped     = "skipped"
)

// Start queues a run of project's policy and starts working it in the
// background; it returns the queued run. ErrNotFound if project or its
// policy is missing; ErrConflict if dryRun is false and a real run of the
// project is already queued or running in any process (real runs of a
// project are refused, not queued, while one is active; dry runs may
// overlap anything).
func (s *Service) Start(ctx context.Context, project string, dryRun bool, trigger, by string) (_ *meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "start retention run of %s", project)
	p, err := s.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetRetentionPolicy(ctx, p.ID); err != nil {
		return nil, err
	}
	r := &meta.RetentionRun{ProjectID: p.ID, DryRun: dryRun, Trigger: trigger, CreatedAt: s.cfg.Now(), CreatedBy: by}
	if err := s.store.CreateRetentionRun(ctx, r); err != nil {
		return nil, err
	}
	s.background(r.ID)
	return r, nil
}

// background claims and works run id on the Service's own context.
func (s *Service) background(id int64) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.executeLogged(s.base, id)
	}()
}

// Execute claims queued run id and works it to the end, recording the
// outcome in the run row. It returns nil without doing anything when the
// run was not queued (another executor has it), and the run's error when
// it failed. If ctx ends first, the run is marked interrupted.
func (s *Service) Execute(ctx context.Context, id int64) error {
	ok, err := s.store.ClaimRetentionRun(ctx, id, s.cfg.Instance, s.cfg.Now())
	if err != nil || !ok {
		return err
	}
	s.active.Store(id, true)
	defer s.active.Delete(id)
	r, err := s.store.GetRetentionRun(ctx, id)
	if err != nil {
		return err
	}
	w := &worker{s: s, run: r, written: time.Now()}
	start := time.Now()
	workCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := w.heartbeat(workCtx, cancel)
	runErr := w.work(workCtx)
	stop()
	if cause := context.Cause(workCtx); runErr != nil && (errdefs.IsConflict(cause) || w.lost) {
		// Another process marked the run interrupted: it is not ours to
		// finish any more.
		if w.lost {
			return runErr
		}
		return cause
	}
	status := meta.RunSucceeded
	switch {
	case runErr != nil && ctx.Err() != nil:
		status = meta.RunInterrupted
	case runErr != nil:
		status = meta.RunFailed
	}
	if err := w.finish(status, runErr); err != nil {
		s.log.Warn("retention run: cannot record the outcome", "run", id, "err", err)
	}
	s.cfg.Metrics.observe(string(status), r.DryRun, r.Progress.TagsDeleted, r.Progress.ManifestsDeleted, time.Since(start))
	s.log.Info("retention run finished", "run", id, "status", status, "dry_run", r.DryRun,
		"tags_deleted", r.Progress.TagsDeleted, "manifests_deleted", r.Progress.ManifestsDeleted)
	return runErr
}

// worker is one run in progress. mu guards run.Progress. Only the
// worker's own goroutine stores the progress (with each batch, after
// repositories and at the end), so a stored count never goes back; the
// heartbeat goroutine writes only the heartbeat time.
type worker struct {
	s   *Service
	mu  sync.Mutex
	run *meta.RetentionRun
	// written is when the progress was last stored.
	written time.Time
	// lost is set when the store refused a batch because the run is no
	// longer running (another process marked it interrupted).
	lost bool
}

// heartbeat writes the run's heartbeat time every Heartbeat until the
// returned stop is called. If the run is no longer running in the store
// (another process marked it interrupted), it cancels the work with that
// error.
func (w *worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(w.s.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				err := w.s.store.HeartbeatRetentionRun(ctx, w.run.ID, w.s.cfg.Now())
				if errdefs.IsConflict(err) {
					cancel(err)
					return
				}
				if err != nil {
					w.s.log.Warn("retention run: cannot write its heartbeat", "run", w.run.ID, "err", err)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// write stores the run's progress and state.
func (w *worker) write(ctx context.Context, status meta.RunStatus, finished time.Time, msg string) error {
	w.mu.Lock()
	r := *w.run
	w.mu.Unlock()
	r.Status, r.FinishedAt, r.Error, r.HeartbeatAt = status, finished, msg, w.s.cfg.Now()
	return w.s.store.UpdateRetentionRun(ctx, &r)
}

// finish records the final state, even when the run's context ended.
func (w *worker) finish(status meta.RunStatus, runErr error) error {
	msg := ""
	if runErr != nil {
		msg = runErr.Error()
	}
	now := w.s.cfg.Now()
	w.mu.Lock()
	w.run.Status, w.run.FinishedAt, w.run.Error = status, now, msg
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.s.base), 10*time.Second)
	defer cancel()
	return w.write(ctx, status, now, msg)
}

// add changes the progress under the lock.
func (w *worker) add(fn func(p *meta.RetentionProgress)) {
	w.mu.Lock()
	fn(&w.run.Progress)
	w.mu.Unlock()
}

// checkpoint stores the progress if it was last stored a heartbeat ago or
// more (the counts a batch changes are stored with the batch; this keeps
// the others, such as repositories done, about as fresh).
func (w *worker) checkpoint(ctx context.Context) error {
	if time.Since(w.written) < w.s.cfg.Heartbeat {
		return nil
	}
	err := w.write(ctx, meta.RunRunning, time.Time{}, "")
	if errdefs.IsConflict(err) {
		w.lost = true
	}
	w.written = time.Now()
	return err
}

// work runs the policy over every repository of the project.
func (w *worker) work(ctx context.Context) error {
	s := w.s
	stored, err := s.store.GetRetentionPolicy(ctx, w.run.ProjectID)
	if err != nil {
		return err
	}
	pol, err := retention.Parse([]byte(stored.Policy))
	if err != nil {
		return err
	}
	project, err := s.projectName(ctx, w.run.ProjectID)
	if err != nil {
		return err
	}
	repos, err := s.store.ListProjectRepositories(ctx, project)
	if err != nil {
		return err
	}
	rules, err := s.rules(ctx, w.run.ProjectID)
	if err != nil {
		return err
	}
	w.add(func(p *meta.RetentionProgress) { p.RepositoriesTotal = int64(len(repos)) })
	for _, repo := range repos {
		if err := w.repository(ctx, pol, project, repo, rules); err != nil {
			return fmt.Errorf("repository %s: %w", repo.Name, err)
		}
		w.add(func(p *meta.RetentionProgress) { p.RepositoriesDone++ })
		if err := w.checkpoint(ctx); err != nil {
			return err
		}
	}
	return nil
}

// projectName finds the name of project id (runs store the ID).
func (s *Service) projectName(ctx context.Context, id int64) (string, error) {
	for after := ""; ; {
		page, err := s.meta.ListProjects(ctx, after, 500)
		if err != nil {
			return "", err
		}
		for _, p := range page {
			if p.ID == id {
				return p.Name, nil
			}
		}
		if len(page) < 500 {
			return "", errdefs.NotFound("project %d not found", id)
		}
		after = page[len(page)-1].Name
	}
}

// immutableRules are the tag immutability rules that apply to a project.
type immutableRules struct {
	project, system []policy.Rule
}

// rules loads the immutability rules of project id and the system-wide
// ones, as package registry does.
func (s *Service) rules(ctx context.Context, id int64) (immutableRules, error) {
	var out immutableRules
	if s.imm == nil {
		return out, nil
	}
	for _, scope := range []struct {
		id   int64
		dest *[]policy.Rule
	}{{id, &out.project}, {0, &out.system}} {
		stored, err := s.imm.ListImmutabilityRules(ctx, scope.id)
		if err != nil {
			return out, err
		}
		for _, r := range stored {
			*scope.dest = append(*scope.dest, policy.Rule{ID: r.ID, Repositories: r.Repositories, Tags: r.Tags})
		}
	}
	return out, nil
}

// immutable returns Options.Immutable for repository repo of project.
func (ir immutableRules) immutable(project, repo string) func(string) (string, bool) {
	relative := strings.TrimPrefix(strings.TrimPrefix(repo, project), "/")
	return func(tag string) (string, bool) {
		if r, ok := policy.Match(ir.project, relative, tag); ok {
			return r.String(), true
		}
		if r, ok := policy.Match(ir.system, repo, tag); ok {
			return r.String(), true
		}
		return "", false
	}
}

// snapshot loads repository repo as retention.Evaluate sees it.
func (s *Service) snapshot(ctx context.Context, project string, repo meta.Repository) (*retention.Snapshot, error) {
	tags, ms, err := s.store.RetentionSnapshot(ctx, repo.ID)
	if err != nil {
		return nil, err
	}
	snap := &retention.Snapshot{Repository: repo.Name, Project: project,
		Tags: make([]retention.TagInfo, len(tags)), Manifests: make([]retention.ManifestInfo, len(ms))}
	for i, t := range tags {
		snap.Tags[i] = retention.TagInfo{Name: t.Name, Digest: t.Digest, SetAt: t.UpdatedAt}
	}
	for i, m := range ms {
		snap.Manifests[i] = retention.ManifestInfo{Digest: m.Digest, PushedAt: m.PushedAt,
			LastPulledAt: m.LastPulledAt, Subject: m.Subject, Children: m.Children, Size: m.Size}
	}
	return snap, nil
}

// repository evaluates the policy on one repository and, for a real run,
// trashes what the plan deletes; the report gets a line per deletion.
func (w *worker) repository(ctx context.Context, pol *retention.Policy, project string, repo meta.Repository, rules immutableRules) error {
	s := w.s
	snap, err := s.snapshot(ctx, project, repo)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	plan := retention.Evaluate(pol, snap, retention.Options{Now: now, Immutable: rules.immutable(project, repo.Name)})
	sizes := make(map[digest.Digest]int64, len(snap.Manifests))
	for _, m := range snap.Manifests {
		sizes[m.Digest] = m.Size
	}
	var tags, manifests []retention.Decision
	for _, d := range plan.Tags {
		if d.Delete {
			tags = append(tags, d)
		}
	}
	for _, d := range plan.Manifests {
		if d.Delete {
			manifests = append(manifests, d)
		}
	}
	w.add(func(p *meta.RetentionProgress) { p.TagsExamined += int64(len(plan.Tags)) })
	if s.beforeApply != nil {
		s.beforeApply(repo.Name)
	}
	// Tags first: a manifest is untagged (and may be trashed) only once
	// its tags are.
	for _, group := range [][]retention.Decision{tags, manifests} {
		for len(group) > 0 {
			n := min(len(group), s.cfg.BatchSize)
			if err := w.apply(ctx, repo, group[:n], sizes, now); err != nil {
				return err
			}
			group = group[n:]
		}
	}
	return nil
}

// apply commits one batch of decisions in one transaction of the store:
// the trash rows (unless the run is dry), the batch's report lines and
// the run's progress after it, so that a crash never leaves trash without
// its report or counts.
func (w *worker) apply(ctx context.Context, repo meta.Repository, batch []retention.Decision, sizes map[digest.Digest]int64, now time.Time) error {
	s := w.s
	outcome := OutcomeWouldDelete
	var entries []meta.TrashEntry
	if !w.run.DryRun {
		outcome = OutcomeDeleted
		entries = make([]meta.TrashEntry, len(batch))
		for i, d := range batch {
			entries[i] = meta.TrashEntry{Tag: d.Tag, Digest: d.Digest, DeletedAt: now,
				RestorableUntil: now.Add(s.cfg.RestoreWindow), RunID: w.run.ID, Reason: d.Reason}
		}
	}
	w.mu.Lock()
	base := w.run.Progress
	w.mu.Unlock()
	var after meta.RetentionProgress
	account := func(sk []meta.TrashEntry) ([]meta.RetentionDecision, meta.RetentionProgress) {
		after = base
		lines := accountBatch(repo.Name, batch, sk, sizes, outcome, &after)
		return lines, after
	}
	_, err := s.store.ApplyRetentionBatch(ctx, meta.RetentionBatch{RunID: w.run.ID, RepositoryID: repo.ID,
		Trash: entries, Account: account, Now: s.cfg.Now()})
	var changes []meta.Change
	for _, e := range entries {
		if e.Tag != "" {
			changes = append(changes, meta.Change{RepositoryID: repo.ID, Tag: e.Tag})
		}
	}
	s.invalidate(changes...)
	if errdefs.IsConflict(err) {
		w.lost = true
	}
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.run.Progress = after
	w.mu.Unlock()
	w.written = time.Now()
	return nil
}

// accountBatch returns the report lines of batch, the skipped entries
// marked as such, and counts them in p.
func accountBatch(repo string, batch []retention.Decision, skippedEntries []meta.TrashEntry,
	sizes map[digest.Digest]int64, outcome string, p *meta.RetentionProgress) []meta.RetentionDecision {
	skipped := make(map[string]bool, len(skippedEntries))
	for _, e := range skippedEntries {
		skipped[e.Tag+"@"+string(e.Digest)] = true
	}
	lines := make([]meta.RetentionDecision, len(batch))
	for i, d := range batch {
		l := meta.RetentionDecision{Repository: repo, Tag: d.Tag, Digest: d.Digest, Rule: d.Rule,
			Reason: d.Reason, Outcome: outcome}
		switch {
		case skipped[d.Tag+"@"+string(d.Digest)]:
			l.Outcome = OutcomeSkipped
			if d.Tag != "" {
				p.TagsSkipped++
			}
		case d.Tag != "":
			p.TagsDeleted++
		default:
			p.ManifestsDeleted++
			p.Bytes += sizes[d.Digest]
		}
		lines[i] = l
	}
	return lines
}
