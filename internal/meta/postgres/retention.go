package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

// Retention policies, runs, reports and trash (migration 00007).
const (
	retentionPolicyCols = `project_id, policy, schedule, enabled, next_run_at, updated_at, updated_by`
	retentionRunCols    = `id, project_id, dry_run, trigger, status, progress::text, created_at, started_at,
		finished_at, heartbeat_at, error, created_by, owner`

	upsertRetentionPolicySQL = `INSERT INTO retention_policies (` + retentionPolicyCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (project_id) DO UPDATE SET policy = excluded.policy, schedule = excluded.schedule,
			enabled = excluded.enabled, next_run_at = excluded.next_run_at,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`
	getRetentionPolicySQL = `SELECT ` + retentionPolicyCols + ` FROM retention_policies
		WHERE project_id = $1`
	deleteRetentionPolicySQL = `DELETE FROM retention_policies WHERE project_id = $1`
	dueRetentionPoliciesSQL  = `SELECT ` + retentionPolicyCols + ` FROM retention_policies
		WHERE enabled AND next_run_at IS NOT NULL AND next_run_at <= $1 ORDER BY next_run_at, project_id`
	setRetentionNextRunSQL = `UPDATE retention_policies SET next_run_at = $1 WHERE project_id = $2`

	insertRetentionRunSQL = `INSERT INTO retention_runs
		(project_id, dry_run, trigger, status, progress, created_at, error, created_by)
		VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8) RETURNING id`
	getRetentionRunSQL   = `SELECT ` + retentionRunCols + ` FROM retention_runs WHERE id = $1`
	listRetentionRunsSQL = `SELECT ` + retentionRunCols + ` FROM retention_runs
		WHERE project_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`
	listRunsByStatusSQL = `SELECT ` + retentionRunCols + ` FROM retention_runs
		WHERE status = $1 ORDER BY id`
	claimRetentionRunSQL = `UPDATE retention_runs SET status = 'running', started_at = $1,
		heartbeat_at = $1, owner = $2 WHERE id = $3 AND status = 'queued'`
	heartbeatRetentionRunSQL = `UPDATE retention_runs SET heartbeat_at = $1 WHERE id = $2 AND status = 'running'`
	batchProgressSQL         = `UPDATE retention_runs SET progress = $1::jsonb, heartbeat_at = $2
		WHERE id = $3 AND status = 'running'`
	updateRetentionRunSQL = `UPDATE retention_runs SET progress = $1::jsonb, heartbeat_at = $2, status = $3,
		finished_at = $4, error = $5 WHERE id = $6 AND status = 'running'`
	interruptRetentionRunSQL = `UPDATE retention_runs SET status = 'interrupted', error = $1,
		finished_at = $2 WHERE id = $3 AND status = 'running' AND heartbeat_at < $4`
	// The run row is locked so that concurrent appends number in turn.
	lockRunSQL      = `SELECT id FROM retention_runs WHERE id = $1 FOR UPDATE`
	maxReportSeqSQL = `SELECT COALESCE(MAX(seq), 0) FROM retention_report WHERE run_id = $1`
	listReportSQL   = `SELECT seq, repository, tag, digest, rule, reason, outcome FROM retention_report
		WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`
)

var (
	_ meta.RetentionStore = (*Store)(nil)
	_ meta.TrashQuerier   = (*querier)(nil)
)

// PutRetentionPolicy creates or replaces the policy of p.ProjectID.
func (q *querier) PutRetentionPolicy(ctx context.Context, p *meta.RetentionPolicy) (err error) {
	defer errdefs.Wrapf(&err, "postgres: put retention policy of project %d", p.ProjectID)
	updated := pgTimeOrNow(p.UpdatedAt)
	_, err = q.db.Exec(ctx, upsertRetentionPolicySQL, p.ProjectID, p.Policy, p.Schedule, p.Enabled,
		nullTime(p.NextRunAt), updated, p.UpdatedBy)
	if isFKViolation(err) {
		return errdefs.NotFound("project %d not found", p.ProjectID)
	}
	if err != nil {
		return classify(err)
	}
	p.UpdatedAt, p.NextRunAt = updated.UTC(), fromNullTime(nullTime(p.NextRunAt))
	return nil
}

func scanRetentionPolicy(row pgx.Row) (*meta.RetentionPolicy, error) {
	var (
		p    meta.RetentionPolicy
		next *time.Time
	)
	if err := row.Scan(&p.ProjectID, &p.Policy, &p.Schedule, &p.Enabled, &next, &p.UpdatedAt, &p.UpdatedBy); err != nil {
		return nil, err
	}
	p.NextRunAt, p.UpdatedAt = fromNullTime(next), p.UpdatedAt.UTC()
	return &p, nil
}

// GetRetentionPolicy returns the policy of projectID or ErrNotFound.
func (q *querier) GetRetentionPolicy(ctx context.Context, projectID int64) (_ *meta.RetentionPolicy, err error) {
	defer errdefs.Wrapf(&err, "postgres: get retention policy of project %d", projectID)
	return getOne(ctx, q.db, scanRetentionPolicy, "retention policy", getRetentionPolicySQL, projectID)
}

// DeleteRetentionPolicy removes the policy of projectID; ErrNotFound if none.
func (q *querier) DeleteRetentionPolicy(ctx context.Context, projectID int64) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete retention policy of project %d", projectID)
	return expectOne(q.db.Exec(ctx, deleteRetentionPolicySQL, projectID))
}

// expectOne classes a statement that changed no row as ErrNotFound.
func expectOne(tag interface{ RowsAffected() int64 }, err error) error {
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("retention policy not found")
	}
	return nil
}

// ListDueRetentionPolicies returns the enabled policies due at now.
func (q *querier) ListDueRetentionPolicies(ctx context.Context, now time.Time) (_ []meta.RetentionPolicy, err error) {
	defer errdefs.Wrapf(&err, "postgres: list due retention policies")
	return queryAll(ctx, q.db, scanRetentionPolicy, dueRetentionPoliciesSQL, pgTime(now))
}

// SetRetentionNextRun sets when projectID's policy runs next.
func (q *querier) SetRetentionNextRun(ctx context.Context, projectID int64, next time.Time) (err error) {
	defer errdefs.Wrapf(&err, "postgres: set next retention run of project %d", projectID)
	return expectOne(q.db.Exec(ctx, setRetentionNextRunSQL, nullTime(next), projectID))
}

// CreateRetentionRun stores r as queued and sets r.ID and r.CreatedAt.
func (q *querier) CreateRetentionRun(ctx context.Context, r *meta.RetentionRun) (err error) {
	defer errdefs.Wrapf(&err, "postgres: create retention run of project %d", r.ProjectID)
	progress, err := json.Marshal(r.Progress)
	if err != nil {
		return err
	}
	created := pgTimeOrNow(r.CreatedAt)
	err = q.db.QueryRow(ctx, insertRetentionRunSQL, r.ProjectID, r.DryRun, r.Trigger, string(meta.RunQueued),
		string(progress), created, r.Error, r.CreatedBy).Scan(&r.ID)
	if isFKViolation(err) {
		return errdefs.NotFound("project %d not found", r.ProjectID)
	}
	if sqlState(err) == codeUniqueViolation {
		return errdefs.Conflict("project %d already has a real retention run queued or running", r.ProjectID)
	}
	if err != nil {
		return classify(err)
	}
	r.Status, r.CreatedAt = meta.RunQueued, created.UTC()
	return nil
}

func scanRetentionRun(row pgx.Row) (*meta.RetentionRun, error) {
	var (
		r                            meta.RetentionRun
		status, progress             string
		started, finished, heartbeat *time.Time
	)
	if err := row.Scan(&r.ID, &r.ProjectID, &r.DryRun, &r.Trigger, &status, &progress, &r.CreatedAt,
		&started, &finished, &heartbeat, &r.Error, &r.CreatedBy, &r.Owner); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(progress), &r.Progress); err != nil {
		return nil, fmt.Errorf("decode progress of run %d: %w", r.ID, err)
	}
	r.Status, r.CreatedAt = meta.RunStatus(status), r.CreatedAt.UTC()
	r.StartedAt, r.FinishedAt, r.HeartbeatAt = fromNullTime(started), fromNullTime(finished), fromNullTime(heartbeat)
	return &r, nil
}

// GetRetentionRun returns run id or ErrNotFound.
func (q *querier) GetRetentionRun(ctx context.Context, id int64) (_ *meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "postgres: get retention run %d", id)
	return getOne(ctx, q.db, scanRetentionRun, "retention run", getRetentionRunSQL, id)
}

// ListRetentionRuns returns runs of projectID, newest first.
func (q *querier) ListRetentionRuns(ctx context.Context, projectID, before int64, limit int) (_ []meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "postgres: list retention runs of project %d", projectID)
	if before <= 0 {
		before = 1<<63 - 1
	}
	return queryAll(ctx, q.db, scanRetentionRun, listRetentionRunsSQL, projectID, before, limitArg(limit))
}

// ListRetentionRunsByStatus returns the runs in status, oldest first.
func (q *querier) ListRetentionRunsByStatus(ctx context.Context, status meta.RunStatus) (_ []meta.RetentionRun, err error) {
	defer errdefs.Wrapf(&err, "postgres: list %s retention runs", status)
	return queryAll(ctx, q.db, scanRetentionRun, listRunsByStatusSQL, string(status))
}

// ClaimRetentionRun moves run id from queued to running.
func (q *querier) ClaimRetentionRun(ctx context.Context, id int64, owner string, now time.Time) (_ bool, err error) {
	defer errdefs.Wrapf(&err, "postgres: claim retention run %d", id)
	tag, err := q.db.Exec(ctx, claimRetentionRunSQL, pgTime(now), owner, id)
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// UpdateRetentionRun writes the progress and state of a running run.
func (q *querier) UpdateRetentionRun(ctx context.Context, r *meta.RetentionRun) (err error) {
	defer errdefs.Wrapf(&err, "postgres: update retention run %d", r.ID)
	progress, err := json.Marshal(r.Progress)
	if err != nil {
		return err
	}
	tag, err := q.db.Exec(ctx, updateRetentionRunSQL, string(progress), nullTime(r.HeartbeatAt),
		string(r.Status), nullTime(r.FinishedAt), r.Error, r.ID)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.Conflict("retention run %d is not running", r.ID)
	}
	return nil
}

// HeartbeatRetentionRun sets the heartbeat of a running run.
func (q *querier) HeartbeatRetentionRun(ctx context.Context, id int64, now time.Time) (err error) {
	defer errdefs.Wrapf(&err, "postgres: heartbeat of retention run %d", id)
	tag, err := q.db.Exec(ctx, heartbeatRetentionRunSQL, pgTime(now), id)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.Conflict("retention run %d is not running", id)
	}
	return nil
}

// InterruptRetentionRun marks a running run with a stale heartbeat
// interrupted.
func (q *querier) InterruptRetentionRun(ctx context.Context, id int64, staleBefore time.Time, reason string) (_ bool, err error) {
	defer errdefs.Wrapf(&err, "postgres: interrupt retention run %d", id)
	tag, err := q.db.Exec(ctx, interruptRetentionRunSQL, reason, pgTimeOrNow(time.Time{}), id, pgTime(staleBefore))
	if err != nil {
		return false, classify(err)
	}
	return tag.RowsAffected() == 1, nil
}

// AddRetentionReport appends lines to the report of runID in one
// transaction, copied in bulk.
func (s *Store) AddRetentionReport(ctx context.Context, runID int64, lines []meta.RetentionDecision) (err error) {
	defer errdefs.Wrapf(&err, "postgres: add to report of retention run %d", runID)
	if len(lines) == 0 {
		return nil
	}
	return s.WithTx(ctx, func(tx meta.Querier) error {
		db := tx.(*querier).db
		var id int64
		if err := db.QueryRow(ctx, lockRunSQL, runID).Scan(&id); errors.Is(err, pgx.ErrNoRows) {
			return errdefs.NotFound("retention run %d not found", runID)
		} else if err != nil {
			return classify(err)
		}
		return addReport(ctx, db.(pgx.Tx), runID, lines)
	})
}

// addReport appends lines to the report of runID in tx, which holds the
// run row locked (so that concurrent appends number in turn).
func addReport(ctx context.Context, tx pgx.Tx, runID int64, lines []meta.RetentionDecision) error {
	var seq int64
	if err := tx.QueryRow(ctx, maxReportSeqSQL, runID).Scan(&seq); err != nil {
		return classify(err)
	}
	rows := make([][]any, len(lines))
	for i, l := range lines {
		rows[i] = []any{runID, seq + int64(i) + 1, l.Repository, l.Tag, string(l.Digest), l.Rule, l.Reason, l.Outcome}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"retention_report"},
		[]string{"run_id", "seq", "repository", "tag", "digest", "rule", "reason", "outcome"},
		pgx.CopyFromRows(rows))
	return classify(err)
}

// ApplyRetentionBatch trashes a batch, appends its report lines and
// stores the run's progress in one transaction.
func (s *Store) ApplyRetentionBatch(ctx context.Context, b meta.RetentionBatch) (skipped []meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "postgres: apply a batch of retention run %d", b.RunID)
	err = s.WithTx(ctx, func(tx meta.Querier) error {
		q := tx.(*querier)
		// The run row first, locked until commit: a run marked
		// interrupted writes nothing, and report appends number in turn.
		tag, err := q.db.Exec(ctx, heartbeatRetentionRunSQL, pgTime(b.Now), b.RunID)
		if err != nil {
			return classify(err)
		}
		if tag.RowsAffected() == 0 {
			return errdefs.Conflict("retention run %d is not running", b.RunID)
		}
		skipped = skipped[:0] // a retried transaction starts again
		for _, e := range b.Trash {
			ok, err := q.trashOne(ctx, b.RepositoryID, e)
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
		if _, err := q.db.Exec(ctx, batchProgressSQL, string(js), pgTime(b.Now), b.RunID); err != nil {
			return classify(err)
		}
		if len(lines) == 0 {
			return nil
		}
		return addReport(ctx, q.db.(pgx.Tx), b.RunID, lines)
	})
	return skipped, err
}

// ListRetentionReport returns report lines of runID after seq `after`.
func (q *querier) ListRetentionReport(ctx context.Context, runID, after int64, limit int) (_ []meta.RetentionDecision, err error) {
	defer errdefs.Wrapf(&err, "postgres: list report of retention run %d", runID)
	return queryAll(ctx, q.db, func(row pgx.Row) (*meta.RetentionDecision, error) {
		var d meta.RetentionDecision
		err := row.Scan(&d.Seq, &d.Repository, &d.Tag, &d.Digest, &d.Rule, &d.Reason, &d.Outcome)
		return &d, err
	}, listReportSQL, runID, after, limitArg(limit))
}
