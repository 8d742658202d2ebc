package meta

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// RetentionPolicy is a project's stored retention policy. What the policy
// text means is package retention's business; the store keeps it as given.
type RetentionPolicy struct {
	ProjectID int64
	// Policy is the policy document (JSON), as validated by the caller.
	Policy string
	// Schedule says when scheduled runs happen ("" for manual runs only);
	// the executor interprets it.
	Schedule string
	Enabled  bool
	// NextRunAt is when the next scheduled run is due (zero: none).
	NextRunAt time.Time
	UpdatedAt time.Time
	// UpdatedBy names who last changed it.
	UpdatedBy string
}

// RunStatus is the state of a retention run.
type RunStatus string

// The states of a run. A run is created queued, claimed (running) by one
// executor and ends succeeded or failed; a running run whose executor
// stopped sending heartbeats is marked interrupted.
const (
	RunQueued      RunStatus = "queued"
	RunRunning     RunStatus = "running"
	RunSucceeded   RunStatus = "succeeded"
	RunFailed      RunStatus = "failed"
	RunInterrupted RunStatus = "interrupted"
)

// Finished reports whether s is a final state.
func (s RunStatus) Finished() bool {
	return s == RunSucceeded || s == RunFailed || s == RunInterrupted
}

// RetentionProgress counts what a run has done so far.
type RetentionProgress struct {
	RepositoriesDone  int64 `json:"repositories_done"`
	RepositoriesTotal int64 `json:"repositories_total"`
	TagsExamined      int64 `json:"tags_examined"`
	TagsDeleted       int64 `json:"tags_deleted"`
	ManifestsDeleted  int64 `json:"manifests_deleted"`
	// TagsSkipped counts tags planned for deletion that moved before
	// they could be trashed.
	TagsSkipped int64 `json:"tags_skipped"`
	// Bytes is the sum of the sizes of the manifests that go (an upper
	// bound of what garbage collection may then reclaim).
	Bytes int64 `json:"bytes"`
}

// RetentionRun is one run of a project's policy.
type RetentionRun struct {
	ID        int64
	ProjectID int64
	DryRun    bool
	// Trigger is "manual" or "schedule".
	Trigger  string
	Status   RunStatus
	Progress RetentionProgress
	// CreatedAt is when the run was queued; StartedAt and FinishedAt are
	// zero until then.
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// HeartbeatAt is when the executor last showed it was alive.
	HeartbeatAt time.Time
	// Owner names the process instance that claimed the run ("" until
	// claimed).
	Owner string
	// Error says why a run failed or was interrupted.
	Error     string
	CreatedBy string
}

// RetentionDecision is one line of a run's report: a tag or untagged
// manifest (Tag "") the plan deletes, and why.
type RetentionDecision struct {
	// Seq orders the lines of a report, from 1.
	Seq        int64  `json:"seq"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	// Digest is the manifest the tag pointed at (or the manifest).
	Digest digest.Digest `json:"digest"`
	// Rule is the priority of the deciding rule (0: none).
	Rule   int    `json:"rule"`
	Reason string `json:"reason"`
	// Outcome is "deleted" (a real run trashed it), "would delete" (a
	// dry run) or "skipped" (the tag moved before it could be trashed).
	Outcome string `json:"outcome"`
}

// RetentionManifest is one manifest of a repository as retention sees it.
type RetentionManifest struct {
	Digest       digest.Digest
	PushedAt     time.Time
	LastPulledAt time.Time
	Subject      digest.Digest
	// Children are the child manifests it names (RefManifest).
	Children []digest.Digest
	// Size is the manifest's size plus the sizes its references state.
	Size int64
}

// TrashEntry is a tag (or, with Tag "", an untagged manifest) that
// retention removed and that can be restored until RestorableUntil.
type TrashEntry struct {
	ID           int64
	RepositoryID int64
	// Repository is the repository's name (filled by reads).
	Repository      string
	Tag             string
	Digest          digest.Digest
	DeletedAt       time.Time
	RestorableUntil time.Time
	RunID           int64
	Reason          string
}

// PurgeResult says what a purge removed.
type PurgeResult struct {
	// Entries is how many expired trash rows were dropped.
	Entries int64
	// Deleted names the manifests deleted, for caches to forget.
	Deleted []Change
}

// RetentionBatch is one batch of a run for ApplyRetentionBatch.
type RetentionBatch struct {
	RunID int64
	// RepositoryID is the repository of Trash.
	RepositoryID int64
	// Trash are the entries to trash (none for a dry run).
	Trash []TrashEntry
	// Account gets the entries of Trash that were skipped and returns the
	// batch's report lines and the run's progress after the batch. It is
	// called inside the transaction, maybe more than once (a retried
	// transaction calls it again), so it must not change anything.
	Account func(skipped []TrashEntry) ([]RetentionDecision, RetentionProgress)
	// Now is the run's new HeartbeatAt.
	Now time.Time
}

// RetentionStore stores retention policies, runs, their reports and the
// trash of deleted tags. It is an optional ability of a Store, found with
// RetentionOf; the SQLite and PostgreSQL backends have it.
type RetentionStore interface {
	// PutRetentionPolicy creates or replaces the policy of p.ProjectID
	// and sets p.UpdatedAt (now when zero); ErrNotFound if the project
	// does not exist.
	PutRetentionPolicy(ctx context.Context, p *RetentionPolicy) error
	// GetRetentionPolicy returns the policy of projectID or ErrNotFound.
	GetRetentionPolicy(ctx context.Context, projectID int64) (*RetentionPolicy, error)
	// DeleteRetentionPolicy removes the policy; ErrNotFound if none.
	DeleteRetentionPolicy(ctx context.Context, projectID int64) error
	// ListDueRetentionPolicies returns the enabled policies whose
	// NextRunAt is set and not after now.
	ListDueRetentionPolicies(ctx context.Context, now time.Time) ([]RetentionPolicy, error)
	// SetRetentionNextRun sets the NextRunAt of projectID's policy
	// (zero: none); ErrNotFound if there is no policy.
	SetRetentionNextRun(ctx context.Context, projectID int64, next time.Time) error

	// CreateRetentionRun stores r (queued) and sets r.ID and r.CreatedAt
	// (now when zero); ErrNotFound if the project does not exist, and
	// ErrConflict if r is a real run (not DryRun) and the project already
	// has a queued or running real run (one real run per project at a
	// time, across every process sharing the store).
	CreateRetentionRun(ctx context.Context, r *RetentionRun) error
	// GetRetentionRun returns run id or ErrNotFound.
	GetRetentionRun(ctx context.Context, id int64) (*RetentionRun, error)
	// ListRetentionRuns returns up to limit runs of projectID, newest
	// first, with an ID below before (0: from the newest).
	ListRetentionRuns(ctx context.Context, projectID, before int64, limit int) ([]RetentionRun, error)
	// ListRetentionRunsByStatus returns the runs (of every project) in
	// status, oldest first.
	ListRetentionRunsByStatus(ctx context.Context, status RunStatus) ([]RetentionRun, error)
	// ClaimRetentionRun moves run id from queued to running, setting
	// Owner to owner and StartedAt and HeartbeatAt to now; it reports
	// false when the run was not queued (another executor took it).
	ClaimRetentionRun(ctx context.Context, id int64, owner string, now time.Time) (bool, error)
	// HeartbeatRetentionRun sets the HeartbeatAt of running run id to
	// now, touching nothing else; ErrConflict if the run is not running
	// (it was marked interrupted meanwhile).
	HeartbeatRetentionRun(ctx context.Context, id int64, now time.Time) error
	// UpdateRetentionRun writes r's Progress, HeartbeatAt, Status,
	// FinishedAt and Error, but only while the stored run is running;
	// ErrConflict otherwise (it was marked interrupted meanwhile).
	UpdateRetentionRun(ctx context.Context, r *RetentionRun) error
	// InterruptRetentionRun marks run id interrupted with reason if it is
	// running and its heartbeat is before staleBefore; it reports whether
	// it did.
	InterruptRetentionRun(ctx context.Context, id int64, staleBefore time.Time, reason string) (bool, error)
	// AddRetentionReport appends lines to the report of runID, numbering
	// them after the lines already stored.
	AddRetentionReport(ctx context.Context, runID int64, lines []RetentionDecision) error
	// ApplyRetentionBatch commits one batch of a run in one transaction:
	// it trashes b.Trash as TrashTags does, then appends the lines that
	// b.Account returns to the run's report and stores the progress it
	// returns and HeartbeatAt b.Now. So a crash leaves either all of a
	// batch (trash rows, report lines, counters) or none of it. If the
	// run is not running, nothing is written and the error is
	// ErrConflict. It returns the skipped entries.
	ApplyRetentionBatch(ctx context.Context, b RetentionBatch) (skipped []TrashEntry, err error)
	// ListRetentionReport returns up to limit lines of runID's report
	// with Seq after `after`, in Seq order.
	ListRetentionReport(ctx context.Context, runID, after int64, limit int) ([]RetentionDecision, error)

	// ListProjectRepositories returns the repositories of project (its
	// name and the names below "project/"), in byte order.
	ListProjectRepositories(ctx context.Context, project string) ([]Repository, error)
	// RetentionSnapshot returns the tags and manifests of repoID, tags in
	// name order and manifests in digest order. Manifests in the trash
	// are included (they still exist).
	RetentionSnapshot(ctx context.Context, repoID int64) ([]Tag, []RetentionManifest, error)

	// TrashTags moves entries of repoID into the trash in one
	// transaction. An entry with a Tag is trashed only if the tag still
	// points at entry.Digest: the tag is deleted (the history records it)
	// and a trash row is written; otherwise it is skipped. An entry with
	// Tag "" (an untagged manifest) gets a trash row and the manifest
	// stays until purged; it is skipped if the manifest is gone or
	// tagged, and not written twice. It returns the skipped entries.
	TrashTags(ctx context.Context, repoID int64, entries []TrashEntry) (skipped []TrashEntry, err error)
	// ListTrash returns up to limit trash rows of the repositories of
	// project, newest first, with an ID below before (0: from the
	// newest).
	ListTrash(ctx context.Context, project string, before int64, limit int) ([]TrashEntry, error)
	// RestoreTrash puts the newest trash row of (repoID, tag) back: for
	// a tag, the tag is set to the row's digest if the manifest still
	// exists (else ErrNotFound) and the tag is free or already there
	// (else ErrConflict); for tag "" it removes the row of manifest
	// dgst. The row is removed. ErrNotFound if there is no such row.
	RestoreTrash(ctx context.Context, repoID int64, tag string, dgst digest.Digest) (*TrashEntry, error)
	// PurgeTrash drops the trash rows whose RestorableUntil is before
	// now. A manifest of a dropped row is deleted if it is untagged, no
	// other trash row still keeps it, and no manifest of its repository
	// names it as a child; this repeats until nothing changes, so an
	// index goes before its children, and untagged referrers of a
	// manifest it deleted go too.
	PurgeTrash(ctx context.Context, now time.Time) (PurgeResult, error)
}

// RetentionOf returns the RetentionStore of s, looking through decorators
// that implement Unwrapper, and whether s has one.
func RetentionOf(s Store) (RetentionStore, bool) {
	for s != nil {
		if rs, ok := s.(RetentionStore); ok {
			return rs, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}

// TrashQuerier is what PurgeManifests needs inside a transaction: the
// store primitives and whether a trash row still holds a manifest.
type TrashQuerier interface {
	Querier
	// TrashHolds reports whether a trash row of repoID names dgst.
	TrashHolds(ctx context.Context, repoID int64, dgst digest.Digest) (bool, error)
}

// PurgeManifests is the manifest half of PurgeTrash, written once for
// every backend, which calls it in the purge's transaction after dropping
// the expired rows. Among candidates (RepositoryID and Digest set) it
// deletes each manifest that is untagged, held by no trash row, named as a
// child by no manifest of its repository and (for a referrer) whose subject
// is gone, repeating until nothing changes so that an index goes before its
// children and a subject before its referrers; the referrers of a manifest
// it deletes become candidates. It returns what it deleted.
func PurgeManifests(ctx context.Context, q TrashQuerier, candidates []Change) ([]Change, error) {
	type key struct {
		repo int64
		dgst digest.Digest
	}
	pending := make(map[key]bool, len(candidates))
	order := make([]key, 0, len(candidates))
	add := func(k key) {
		if !pending[k] {
			pending[k] = true
			order = append(order, k)
		}
	}
	for _, c := range candidates {
		add(key{c.RepositoryID, c.Digest})
	}
	var deleted []Change
	for progress := true; progress; {
		progress = false
		for _, k := range order {
			if !pending[k] {
				continue
			}
			gone, keep, err := purgeOne(ctx, q, k.repo, k.dgst)
			if err != nil {
				return deleted, err
			}
			if keep {
				continue // a parent still names it; maybe after the parent goes
			}
			pending[k] = false
			if !gone {
				continue
			}
			progress = true
			deleted = append(deleted, Change{RepositoryID: k.repo, Digest: k.dgst})
			refs, err := q.ListReferrers(ctx, k.repo, k.dgst, "")
			if err != nil {
				return deleted, err
			}
			for _, r := range refs {
				add(key{k.repo, r.Digest})
			}
		}
	}
	return deleted, nil
}

// purgeOne deletes manifest dgst of repo if nothing keeps it: gone says it
// was deleted; wait says a parent index or its subject is still there (try
// again later).
// A manifest that is missing, tagged or held by the trash is neither.
func purgeOne(ctx context.Context, q TrashQuerier, repo int64, dgst digest.Digest) (gone, wait bool, err error) {
	m, err := q.GetManifest(ctx, repo, dgst, false)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return false, false, nil
		}
		return false, false, err
	}
	if m.Subject != "" {
		// A referrer follows its subject: it waits while the subject stays.
		switch _, err := q.GetManifest(ctx, repo, m.Subject, false); {
		case err == nil:
			return false, true, nil
		case !errdefs.IsNotFound(err):
			return false, false, err
		}
	}
	tags, err := q.ListTagsOf(ctx, repo, dgst)
	if err != nil || len(tags) > 0 {
		return false, false, err
	}
	held, err := q.TrashHolds(ctx, repo, dgst)
	if err != nil || held {
		return false, false, err
	}
	parents, err := q.ListManifestParents(ctx, repo, dgst)
	if err != nil || len(parents) > 0 {
		return false, len(parents) > 0, err
	}
	if err := q.DeleteManifest(ctx, repo, dgst); err != nil {
		return false, false, err
	}
	return true, false, nil
}
