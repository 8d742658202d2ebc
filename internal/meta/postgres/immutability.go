package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

const immutabilityCols = `id, project_id, repositories::text, tags::text, created_at, created_by`

// Tag immutability rules. project_id is NULL for a system-wide rule
// (ProjectID 0).
const (
	// The rule is inserted only if its project exists (or it has none);
	// no row back means the project is missing.
	insertImmutabilitySQL = `INSERT INTO immutability_rules
		(project_id, repositories, tags, created_at, created_by)
		SELECT $1::bigint, $2::jsonb, $3::jsonb, $4::timestamptz, $5::text
		WHERE $1::bigint IS NULL OR EXISTS (SELECT 1 FROM projects WHERE id = $1::bigint)
		RETURNING id`
	deleteImmutabilitySQL = `DELETE FROM immutability_rules
		WHERE id = $1 AND project_id IS NOT DISTINCT FROM $2::bigint`
	listSystemImmutabilitySQL = `SELECT ` + immutabilityCols + ` FROM immutability_rules
		WHERE project_id IS NULL ORDER BY id`
	listProjectImmutabilitySQL = `SELECT ` + immutabilityCols + ` FROM immutability_rules
		WHERE project_id = $1 ORDER BY id`
)

var _ meta.ImmutabilityStore = (*Store)(nil)

// patternsJSON encodes a pattern list for a jsonb column.
func patternsJSON(list []string) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", errdefs.Invalid("encode patterns: %v", err)
	}
	return string(b), nil
}

// patternsFrom decodes a stored pattern list; an empty list comes back nil.
func patternsFrom(s string) ([]string, error) {
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("decode stored patterns: %w", err)
	}
	return nilIfEmpty(list), nil
}

func scanImmutabilityRule(row pgx.Row) (*meta.ImmutabilityRule, error) {
	var (
		r           meta.ImmutabilityRule
		project     *int64
		repos, tags string
	)
	if err := row.Scan(&r.ID, &project, &repos, &tags, &r.CreatedAt, &r.CreatedBy); err != nil {
		return nil, err
	}
	var err error
	if r.Repositories, err = patternsFrom(repos); err != nil {
		return nil, err
	}
	if r.Tags, err = patternsFrom(tags); err != nil {
		return nil, err
	}
	if project != nil {
		r.ProjectID = *project
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return &r, nil
}

// PutImmutabilityRule stores a new rule and sets r.ID and r.CreatedAt (now
// when zero, else as stored); ErrNotFound if r.ProjectID names no project.
func (q *querier) PutImmutabilityRule(ctx context.Context, r *meta.ImmutabilityRule) (err error) {
	defer errdefs.Wrapf(&err, "postgres: add immutability rule to project %d", r.ProjectID)
	repos, err := patternsJSON(r.Repositories)
	if err != nil {
		return err
	}
	tags, err := patternsJSON(r.Tags)
	if err != nil {
		return err
	}
	created := pgTimeOrNow(r.CreatedAt)
	err = q.db.QueryRow(ctx, insertImmutabilitySQL, nullID(r.ProjectID), repos, tags,
		created, r.CreatedBy).Scan(&r.ID)
	switch {
	case err == nil:
		r.CreatedAt = created.UTC()
		return nil
	case errors.Is(err, pgx.ErrNoRows), isFKViolation(err): // missing, or deleted meanwhile
		return errdefs.NotFound("project %d not found", r.ProjectID)
	default:
		return classify(err)
	}
}

// DeleteImmutabilityRule removes rule id of project projectID (0:
// system-wide); ErrNotFound if that project has no such rule.
func (q *querier) DeleteImmutabilityRule(ctx context.Context, projectID, id int64) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete immutability rule %d of project %d", id, projectID)
	tag, err := q.db.Exec(ctx, deleteImmutabilitySQL, id, nullID(projectID))
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("immutability rule %d not found", id)
	}
	return nil
}

// ListImmutabilityRules returns the rules of project projectID (0: the
// system-wide ones), oldest first.
func (q *querier) ListImmutabilityRules(ctx context.Context, projectID int64) (_ []meta.ImmutabilityRule, err error) {
	defer errdefs.Wrapf(&err, "postgres: list immutability rules of project %d", projectID)
	if projectID == 0 {
		return queryAll(ctx, q.db, scanImmutabilityRule, listSystemImmutabilitySQL)
	}
	return queryAll(ctx, q.db, scanImmutabilityRule, listProjectImmutabilitySQL, projectID)
}
