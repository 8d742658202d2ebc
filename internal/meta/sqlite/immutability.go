package sqlite

import (
	"context"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

const immutabilityCols = `id, project_id, repositories, tags, created_at, created_by`

// Tag immutability rules. project_id is NULL for a system-wide rule
// (ProjectID 0).
var (
	insertImmutabilitySQL = stmt(`INSERT INTO immutability_rules
		(project_id, repositories, tags, created_at, created_by) VALUES (?, ?, ?, ?, ?)`)
	deleteImmutabilitySQL = stmt(`DELETE FROM immutability_rules
		WHERE id = ? AND project_id IS ?`)
	listSystemImmutabilitySQL = stmt(`SELECT ` + immutabilityCols + ` FROM immutability_rules
		WHERE project_id IS NULL ORDER BY id`)
	listProjectImmutabilitySQL = stmt(`SELECT ` + immutabilityCols + ` FROM immutability_rules
		WHERE project_id = ? ORDER BY id`)
)

var _ meta.ImmutabilityStore = (*Store)(nil)

func scanImmutabilityRule(row scanner) (*meta.ImmutabilityRule, error) {
	var (
		r           meta.ImmutabilityRule
		project     *int64
		repos, tags string
		created     int64
	)
	if err := row.Scan(&r.ID, &project, &repos, &tags, &created, &r.CreatedBy); err != nil {
		return nil, err
	}
	var err error
	if r.Repositories, err = fromJSON[string](repos); err != nil {
		return nil, err
	}
	if r.Tags, err = fromJSON[string](tags); err != nil {
		return nil, err
	}
	if project != nil {
		r.ProjectID = *project
	}
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

// PutImmutabilityRule stores a new rule and sets r.ID and r.CreatedAt (now
// when zero, else as stored); ErrNotFound if r.ProjectID names no project.
func (q *querier) PutImmutabilityRule(ctx context.Context, r *meta.ImmutabilityRule) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: add immutability rule to project %d", r.ProjectID)
	repos, err := toJSON(r.Repositories)
	if err != nil {
		return err
	}
	tags, err := toJSON(r.Tags)
	if err != nil {
		return err
	}
	created := microsOrNow(r.CreatedAt)
	return q.write(ctx, func(w runner) error {
		res, err := w.exec(ctx, insertImmutabilitySQL, nullID(r.ProjectID), repos, tags, created, r.CreatedBy)
		switch {
		case isFKViolation(err):
			return errdefs.NotFound("project %d not found", r.ProjectID)
		case err != nil:
			return classify(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return classify(err)
		}
		r.ID, r.CreatedAt = id, fromMicros(created)
		return nil
	})
}

// DeleteImmutabilityRule removes rule id of project projectID (0:
// system-wide); ErrNotFound if that project has no such rule.
func (q *querier) DeleteImmutabilityRule(ctx context.Context, projectID, id int64) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete immutability rule %d of project %d", id, projectID)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteImmutabilitySQL, id, nullID(projectID)))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("immutability rule %d not found", id)
		}
		return nil
	})
}

// ListImmutabilityRules returns the rules of project projectID (0: the
// system-wide ones), oldest first.
func (q *querier) ListImmutabilityRules(ctx context.Context, projectID int64) (_ []meta.ImmutabilityRule, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list immutability rules of project %d", projectID)
	query, args := listProjectImmutabilitySQL, []any{projectID}
	if projectID == 0 {
		query, args = listSystemImmutabilitySQL, nil
	}
	rows, err := q.read.query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanImmutabilityRule)
}
