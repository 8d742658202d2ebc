package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// reportChunk is how many report lines one INSERT writes.
const reportChunk = 64

// Retention policies, runs, reports and trash (migration 00007).
const (
	retentionPolicyCols = `project_id, policy, schedule, enabled, next_run_at, updated_at, updated_by`
	retentionRunCols    = `id, project_id, dry_run, trigger, status, progress, created_at, started_at,
		finished_at, heartbeat_at, error, created_by, owner`
	trashCols = `t.id, t.repository_id, r.name, t.tag, t.digest, t.deleted_at, t.restorable_until,
		t.run_id, t.reason`
)

var (
	upsertRetentionPolicySQL = stmt(`INSERT INTO retention_policies (` + retentionPolicyCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (project_id) DO UPDATE SET policy = excluded.policy, schedule = excluded.schedule,
			enabled = excluded.enabled, next_run_at = excluded.next_run_at,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`)
	getRetentionPolicySQL = stmt(`SELECT ` + retentionPolicyCols + ` FROM retention_policies
		WHERE project_id = ?`)
	deleteRetentionPolicySQL = stmt(`DELETE FROM retention_policies WHERE project_id = ?`)
	dueRetentionPoliciesSQL  = stmt(`SELECT ` + retentionPolicyCols + ` FROM retention_policies
		WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at, project_id`)
	setRetentionNextRunSQL = stmt(`UPDATE retention_policies SET next_run_at = ? WHERE project_id = ?`)

	insertRetentionRunSQL = stmt(`INSERT INTO retention_runs
		(project_id, dry_run, trigger, status, progress, created_at, error, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	getRetentionRunSQL   = stmt(`SELECT ` + retentionRunCols + ` FROM retention_runs WHERE id = ?`)
	listRetentionRunsSQL = stmt(`SELECT ` + retentionRunCols + ` FROM retention_runs
		WHERE project_id = ? AND id < ? ORDER BY id DESC LIMIT ?`)
	listRunsByStatusSQL = stmt(`SELECT ` + retentionRunCols + ` FROM retention_runs
		WHERE status = ? ORDER BY id`)
	claimRetentionRunSQL = stmt(`UPDATE retention_runs SET status = 'running', started_at = ?,
		heartbeat_at = ?, owner = ? WHERE id = ? AND status = 'queued'`)
	heartbeatRetentionRunSQL = stmt(`UPDATE retention_runs SET heartbeat_at = ?
		WHERE id = ? AND status = 'running'`)
	batchProgressSQL = stmt(`UPDATE retention_runs SET progress = ?, heartbeat_at = ?
		WHERE id = ? AND status = 'running'`)
	updateRetentionRunSQL = stmt(`UPDATE retention_runs SET progress = ?, heartbeat_at = ?, status = ?,
		finished_at = ?, error = ? WHERE id = ? AND status = 'running'`)
	interruptRetentionRunSQL = stmt(`UPDATE retention_runs SET status = 'interrupted', error = ?,
		finished_at = ? WHERE id = ? AND status = 'running' AND heartbeat_at < ?`)
	maxReportSeqSQL = stmt(`SELECT COALESCE(MAX(seq), 0) FROM retention_report WHERE run_id = ?`)
	insertReportSQL = stmt(`INSERT INTO retention_report
		(run_id, seq, repository, tag, digest, rule, reason, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	insertReportChunkSQL = stmt(`INSERT INTO retention_report
		(run_id, seq, repository, tag, digest, rule, reason, outcome) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?), ", reportChunk), ", "))
	listReportSQL = stmt(`SELECT seq, repository, tag, digest, rule, reason, outcome FROM retention_report
		WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`)

	projectRepositoriesSQL = stmt(`SELECT id, name, created_at FROM repositories
		WHERE name = ? OR (name >= ? AND name < ?) ORDER BY name`)
	snapshotTagsSQL      = stmt(`SELECT name, digest, updated_at FROM tags WHERE repository_id = ? ORDER BY name`)
	snapshotManifestsSQL = stmt(`SELECT digest, pushed_at, last_pulled_at, subject, size FROM manifests
		WHERE repository_id = ? ORDER BY digest`)
	snapshotRefsSQL = stmt(`SELECT manifest_digest, child_digest, kind, size FROM manifest_refs
		WHERE repository_id = ?`)

	insertTrashSQL = stmt(`INSERT INTO retention_trash
		(repository_id, tag, digest, deleted_at, restorable_until, run_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	untaggedTrashedSQL = stmt(`SELECT EXISTS (SELECT 1 FROM retention_trash
		WHERE repository_id = ? AND tag = '' AND digest = ?)`)
	trashHoldsSQL = stmt(`SELECT EXISTS (SELECT 1 FROM retention_trash WHERE repository_id = ? AND digest = ?)`)
	listTrashSQL  = stmt(`SELECT ` + trashCols + ` FROM retention_trash t
		JOIN repositories r ON r.id = t.repository_id
		WHERE (r.name = ? OR (r.name >= ? AND r.name < ?)) AND t.id < ? ORDER BY t.id DESC LIMIT ?`)
	newestTrashTagSQL = stmt(`SELECT ` + trashCols + ` FROM retention_trash t
		JOIN repositories r ON r.id = t.repository_id
		WHERE t.repository_id = ? AND t.tag = ? AND (t.tag <> '' OR t.digest = ?) ORDER BY t.id DESC LIMIT 1`)
	deleteTrashSQL  = stmt(`DELETE FROM retention_trash WHERE id = ?`)
	expiredTrashSQL = stmt(`SELECT id, repository_id, digest FROM retention_trash
		WHERE restorable_until < ? ORDER BY id LIMIT ?`)
)

var (
	_ meta.RetentionStore = (*Store)(nil)
	_ meta.TrashQuerier   = (*querier)(nil)
)

// inTxQ runs fn with a querier inside a write transaction: q itself inside
// WithTx, else a new one.
func (q *querier) inTxQ(ctx context.Context, fn func(tq *querier) error) error {
	if q.tx != nil {
		return fn(q)
	}
	return q.store.inTx(ctx, fn)
}

// PutRetentionPolicy creates or replaces the policy of p.ProjectID.
func (q *querier) PutRetentionPolicy(ctx context.Context, p *meta.RetentionPolicy) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: put retention policy of project %d", p.ProjectID)
	updated := microsOrNow(p.UpdatedAt)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, upsertRetentionPolicySQL, p.ProjectID, p.Policy, p.Schedule, p.Enabled,
			nullMicros(p.NextRunAt), updated, p.UpdatedBy)
		if isFKViolation(err) {
			return errdefs.NotFound("project %d not found", p.ProjectID)
		}
		if err != nil {
			return classify(err)
		}
		p.UpdatedAt, p.NextRunAt = fromMicros(updated), fromNullMicros(nullMicros(p.NextRunAt))
		return nil
	})
}

func scanRetentionPolicy(row scanner) (*meta.RetentionPolicy, error) {
	var (
		p       meta.RetentionPolicy
		next    sql.NullInt64
		updated int64
	)
	if err := row.Scan(&p.ProjectID, &p.Policy, &p.Schedule, &p.Enabled, &next, &updated, &p.UpdatedBy); err != nil {
		return nil, err
	}
	p.NextRunAt, p.UpdatedAt = fromNullMicros(next), fromMicros(updated)
	return &p, nil
}

// GetRetentionPolicy returns the policy of projectID or ErrNotFound.
func (q *querier) GetRetentionPolicy(ctx context.Context, projectID int64) (_ *meta.RetentionPolicy, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get retention policy of project %d", projectID)
	p, err := scanRetentionPolicy(q.read.queryRow(ctx, getRetentionPolicySQL, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("project %d has no retention policy", projectID)
	}
	return p, classify(err)
}

// DeleteRetentionPolicy removes the policy of projectID; ErrNotFound if none.
func (q *querier) DeleteRetentionPolicy(ctx context.Context, projectID int64) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete retention policy of project %d", projectID)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteRetentionPolicySQL, projectID))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("project %d has no retention policy", projectID)
		}
		return nil
	})
}

// ListDueRetentionPolicies returns the enabled policies due at now.
func (q *querier) ListDueRetentionPolicies(ctx context.Context, now time.Time) (_ []meta.RetentionPolicy, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list due retention policies")
	rows, err := q.read.query(ctx, dueRetentionPoliciesSQL, micros(now))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanRetentionPolicy)
}

// SetRetentionNextRun sets when projectID's policy runs next.
func (q *querier) SetRetentionNextRun(ctx context.Context, projectID int64, next time.Time) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: set next retention run of project %d", projectID)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, setRetentionNextRunSQL, nullMicros(next), projectID))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("project %d has no retention policy", projectID)
		}
		return nil
	})
}

// CreateRetentionRun stores r as queued and sets r.ID and r.CreatedAt.
func (q *querier) CreateRetentionRun(ctx context.Context, r *meta.RetentionRun) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: create retention run of project %d", r.ProjectID)
	progress, err := json.Marshal(r.Progress)
	if err != nil {
		return err
	}
	created := microsOrNow(r.CreatedAt)
	return q.write(ctx, func(w runner) error {
		res, err := w.exec(ctx, insertRetentionRunSQL, r.ProjectID, r.DryRun, r.Trigger, string(meta.RunQueued),
			string(progress), created, r.Error, r.CreatedBy)
		if isFKViolation(err) {
			return errdefs.NotFound("project %d not found", r.ProjectID)
		}
		if isUniqueViolation(err) {
			return errdefs.Conflict("project %d already has a real retention run queued or running", r.ProjectID)
		}
		if err != nil {
			return classify(err)
		}
		if r.ID, err = res.LastInsertId(); err != nil {
			return classify(err)
		}
		r.Status, r.CreatedAt = meta.RunQueued, fromMicros(created)
		return nil
	})
}

func scanRetentionRun(row scanner) (*meta.RetentionRun, error) {
	var (
		r                            meta.RetentionRun
		status, progress             string
		created                      int64
		started, finished, heartbeat sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.ProjectID, &r.DryRun, &r.Trigger, &status, &progress, &created,
		&started, &finished, &heartbeat, &r.Error, &r.CreatedBy, &r.Owner); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(progress), &r.Progress); err != nil {
		return nil, fmt.Errorf("decode progress of run %d: %w", r.ID, err)
	}
	r.Status, r.CreatedAt = meta.RunStatus(status), fromMicros(created)
	r.StartedAt, r.FinishedAt, r.HeartbeatAt = fromNullMicros(started), fromNullMicros(finished), fromNullMicros(heartbeat)
	return &r, nil
}

// GetRetentionRun returns run id or ErrNotFound.
func (q *querier) GetRetentionRun(ctx context.Context, id int64) (_ *meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get retention run %d", id)
	r, err := scanRetentionRun(q.read.queryRow(ctx, getRetentionRunSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("retention run %d not found", id)
	}
	return r, classify(err)
}

// ListRetentionRuns returns runs of projectID, newest first.
func (q *querier) ListRetentionRuns(ctx context.Context, projectID, before int64, limit int) (_ []meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list retention runs of project %d", projectID)
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := q.read.query(ctx, listRetentionRunsSQL, projectID, before, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanRetentionRun)
}

// ListRetentionRunsByStatus returns the runs in status, oldest first.
func (q *querier) ListRetentionRunsByStatus(ctx context.Context, status meta.RunStatus) (_ []meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list %s retention runs", status)
	rows, err := q.read.query(ctx, listRunsByStatusSQL, string(status))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanRetentionRun)
}

// ClaimRetentionRun moves run id from queued to running.
func (q *querier) ClaimRetentionRun(ctx context.Context, id int64, owner string, now time.Time) (ok bool, err error) {
	defer errdefs.Wrapf(&err, "sqlite: claim retention run %d", id)
	err = q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, claimRetentionRunSQL, micros(now), micros(now), owner, id))
		ok = n == 1
		return classify(err)
	})
	return ok, err
}

// HeartbeatRetentionRun sets the heartbeat of a running run.
func (q *querier) HeartbeatRetentionRun(ctx context.Context, id int64, now time.Time) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: heartbeat of retention run %d", id)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, heartbeatRetentionRunSQL, micros(now), id))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.Conflict("retention run %d is not running", id)
		}
		return nil
	})
}

// UpdateRetentionRun writes the progress and state of a running run.
func (q *querier) UpdateRetentionRun(ctx context.Context, r *meta.RetentionRun) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: update retention run %d", r.ID)
	progress, err := json.Marshal(r.Progress)
	if err != nil {
		return err
	}
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, updateRetentionRunSQL, string(progress), nullMicros(r.HeartbeatAt),
			string(r.Status), nullMicros(r.FinishedAt), r.Error, r.ID))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.Conflict("retention run %d is not running", r.ID)
		}
		return nil
	})
}

// InterruptRetentionRun marks a running run with a stale heartbeat
// interrupted.
func (q *querier) InterruptRetentionRun(ctx context.Context, id int64, staleBefore time.Time, reason string) (ok bool, err error) {
	defer errdefs.Wrapf(&err, "sqlite: interrupt retention run %d", id)
	err = q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, interruptRetentionRunSQL, reason, nowMicros(), id, micros(staleBefore)))
		ok = n == 1
		return classify(err)
	})
	return ok, err
}

// AddRetentionReport appends lines to the report of runID.
func (q *querier) AddRetentionReport(ctx context.Context, runID int64, lines []meta.RetentionDecision) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: add to report of retention run %d", runID)
	if len(lines) == 0 {
		return nil
	}
	return q.write(ctx, func(w runner) error { return addReport(ctx, w, runID, lines) })
}

// addReport appends lines to the report of runID with w.
func addReport(ctx context.Context, w runner, runID int64, lines []meta.RetentionDecision) error {
	var seq int64
	if err := w.queryRow(ctx, maxReportSeqSQL, runID).Scan(&seq); err != nil {
		return classify(err)
	}
	// Whole chunks in one statement each (a report may have 100k lines),
	// the rest a line at a time.
	args := make([]any, 0, 8*reportChunk)
	for len(lines) > 0 {
		query, n := insertReportChunkSQL, reportChunk
		if len(lines) < reportChunk {
			query, n = insertReportSQL, 1
		}
		args = args[:0]
		for _, l := range lines[:n] {
			seq++
			args = append(args, runID, seq, l.Repository, l.Tag, string(l.Digest), l.Rule, l.Reason, l.Outcome)
		}
		lines = lines[n:]
		_, err := w.exec(ctx, query, args...)
		if isFKViolation(err) {
			return errdefs.NotFound("retention run %d not found", runID)
		}
		if err != nil {
			return classify(err)
		}
	}
	return nil
}

// ApplyRetentionBatch trashes a batch, appends its report lines and
// stores the run's progress in one transaction.
func (q *querier) ApplyRetentionBatch(ctx context.Context, b meta.RetentionBatch) (skipped []meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "sqlite: apply a batch of retention run %d", b.RunID)
	err = q.inTxQ(ctx, func(tq *querier) error {
		w := *tq.tx
		// The run row first: a run marked interrupted writes nothing.
		n, err := affected(w.exec(ctx, heartbeatRetentionRunSQL, micros(b.Now), b.RunID))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.Conflict("retention run %d is not running", b.RunID)
		}
		skipped = skipped[:0] // group commit may run fn again after a retry
		for _, e := range b.Trash {
			ok, err := tq.trashOne(ctx, b.RepositoryID, e)
			if err != nil {
				return err
			}
			if !ok {
				skipped = append(skipped, e)
			}
		}
		lines, progress := b.Account(skipped)
		js, err := json.Marshal(progress)
		if err != nil {
			return err
		}
		if _, err := w.exec(ctx, batchProgressSQL, string(js), micros(b.Now), b.RunID); err != nil {
			return classify(err)
		}
		if len(lines) == 0 {
			return nil
		}
		return addReport(ctx, w, b.RunID, lines)
	})
	return skipped, err
}

// ListRetentionReport returns report lines of runID after seq `after`.
func (q *querier) ListRetentionReport(ctx context.Context, runID, after int64, limit int) (_ []meta.RetentionDecision, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list report of retention run %d", runID)
	rows, err := q.read.query(ctx, listReportSQL, runID, after, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, func(row scanner) (*meta.RetentionDecision, error) {
		var d meta.RetentionDecision
		err := row.Scan(&d.Seq, &d.Repository, &d.Tag, &d.Digest, &d.Rule, &d.Reason, &d.Outcome)
		return &d, err
	})
}
