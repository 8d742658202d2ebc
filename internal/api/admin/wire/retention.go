package wire

import "encoding/json"

// RetentionPolicy is a project's retention policy as the API shows it and
// takes (PUT /api/v1/projects/{name}/retention).
type RetentionPolicy struct {
	// Policy is the rule document, {"rules": [...]}: a superset of ECR's
	// lifecycle policy (see docs/retention.md).
	Policy json.RawMessage `json:"policy"`
	// Schedule is when the policy runs by itself: a duration such as
	// "24h", "daily@03:00" (UTC), or absent for manual runs only.
	Schedule string `json:"schedule,omitempty"`
	// Enabled turns scheduled runs on.
	Enabled bool `json:"enabled"`
	// NextRunAt is when the next scheduled run is due (read only).
	NextRunAt string `json:"next_run_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
	UpdatedBy string `json:"updated_by,omitempty"`
}

// NewRetentionRun is the body of POST /api/v1/projects/{name}/retention/runs.
type NewRetentionRun struct {
	// DryRun reports what would be deleted, and why, without deleting.
	DryRun bool `json:"dry_run,omitempty"`
}

// RetentionProgress counts what a run has done so far.
type RetentionProgress struct {
	RepositoriesDone  int64 `json:"repositories_done"`
	RepositoriesTotal int64 `json:"repositories_total"`
	TagsExamined      int64 `json:"tags_examined"`
	TagsDeleted       int64 `json:"tags_deleted"`
	ManifestsDeleted  int64 `json:"manifests_deleted"`
	// TagsSkipped counts tags that moved between evaluation and deletion
	// (they are kept).
	TagsSkipped int64 `json:"tags_skipped"`
	// Bytes is what the deleted manifests add up to, with what they name:
	// an upper bound of what garbage collection may reclaim.
	Bytes int64 `json:"bytes"`
}

// RetentionRun is one run of a project's policy.
type RetentionRun struct {
	ID      int64  `json:"id"`
	Project string `json:"project"`
	DryRun  bool   `json:"dry_run"`
	// Trigger is manual or schedule.
	Trigger string `json:"trigger"`
	// Status is queued, running, succeeded, failed or interrupted.
	Status     string            `json:"status"`
	Progress   RetentionProgress `json:"progress"`
	CreatedAt  string            `json:"created_at"`
	StartedAt  string            `json:"started_at,omitempty"`
	FinishedAt string            `json:"finished_at,omitempty"`
	Error      string            `json:"error,omitempty"`
	CreatedBy  string            `json:"created_by,omitempty"`
}

// RetentionRunList is the body of the run listing, newest first.
type RetentionRunList struct {
	Runs []RetentionRun `json:"runs"`
}

// RetentionDecision is one line of a run's report: a tag (or, with no tag,
// an untagged manifest) that went or, for a dry run, would go.
type RetentionDecision struct {
	Seq        int64  `json:"seq"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest"`
	// Rule is the priority of the deciding rule (0: none, e.g. the
	// manifest went with its index).
	Rule   int    `json:"rule"`
	Reason string `json:"reason"`
	// Outcome is "deleted", "would delete" (dry run) or "skipped" (the
	// tag moved meanwhile).
	Outcome string `json:"outcome"`
}

// RetentionReport is a page of a run's report; Next is the `after` of the
// following page (0 at the end).
type RetentionReport struct {
	Decisions []RetentionDecision `json:"decisions"`
	Next      int64               `json:"next,omitempty"`
}

// TrashEntry is a tag (or untagged manifest) retention deleted, restorable
// until RestorableUntil.
type TrashEntry struct {
	ID              int64  `json:"id"`
	Repository      string `json:"repository"`
	Tag             string `json:"tag,omitempty"`
	Digest          string `json:"digest"`
	DeletedAt       string `json:"deleted_at"`
	RestorableUntil string `json:"restorable_until"`
	RunID           int64  `json:"run_id,omitempty"`
	Reason          string `json:"reason,omitempty"`
}

// TrashList is the body of the trash listing, newest first; Next is the
// `before` of the following page (0 at the end).
type TrashList struct {
	Entries []TrashEntry `json:"entries"`
	Next    int64        `json:"next,omitempty"`
}

// RestoreRequest is the body of POST .../retention/trash/restore: a tag,
// or for an untagged manifest its digest.
type RestoreRequest struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
}
