package postgres

import (
	"context"
	"errors"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

// Project quotas and usage (meta.QuotaStore). Under READ COMMITTED a check
// inside a transaction holds until commit only behind a lock: LockQuota
// reads the quota row FOR UPDATE, so two pushes into one project queue on
// it, and the usage read in the next statement (a fresh snapshot) includes
// whatever the first committed.

var (
	_ meta.QuotaStore = (*Store)(nil)
	_ meta.QuotaStore = (*querier)(nil)
)

// projectRepos selects the IDs of the repositories of project $1: its name
// and every name under "$1/", as a range on the byte-ordered unique index.
const projectRepos = `SELECT id FROM repositories
	WHERE name = $1::text OR (name >= ($1::text || '/') COLLATE "C" AND name < ($1::text || '0') COLLATE "C")`

const (
	putQuotaSQL = `INSERT INTO project_quotas
		(project_id, limit_bytes, warn_bytes, artifact_limit, updated_at, updated_by)
		SELECT id, $2, $3, $4, $5, $6 FROM projects WHERE name = $1::text
		ON CONFLICT (project_id) DO UPDATE SET limit_bytes = excluded.limit_bytes,
		warn_bytes = excluded.warn_bytes, artifact_limit = excluded.artifact_limit,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by`
	quotaSelect = `SELECT q.limit_bytes, q.warn_bytes, q.artifact_limit, q.updated_at, q.updated_by
		FROM project_quotas q JOIN projects p ON p.id = q.project_id WHERE p.name = $1::text`
	getQuotaSQL    = quotaSelect
	lockQuotaSQL   = quotaSelect + ` FOR UPDATE OF q`
	deleteQuotaSQL = `DELETE FROM project_quotas
		WHERE project_id = (SELECT id FROM projects WHERE name = $1::text)`
	projectUsageSQL = `WITH r AS (` + projectRepos + `)
		SELECT
		  (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
		     (SELECT rb.digest FROM repository_blobs rb WHERE rb.repository_id IN (SELECT id FROM r)))
		  + (SELECT COALESCE(SUM(d.size), 0) FROM
		     (SELECT DISTINCT m.digest, m.size FROM manifests m WHERE m.repository_id IN (SELECT id FROM r)) d),
		  (SELECT COALESCE(SUM(m.size), 0) FROM manifests m WHERE m.repository_id IN (SELECT id FROM r))
		  + (SELECT COALESCE(SUM(mr.size), 0) FROM manifest_refs mr
		     WHERE mr.repository_id IN (SELECT id FROM r) AND mr.kind = 1),
		  (SELECT COUNT(*) FROM manifests m WHERE m.repository_id IN (SELECT id FROM r)
		     AND NOT EXISTS (SELECT 1 FROM manifest_refs p WHERE p.repository_id = m.repository_id
		       AND p.child_digest = m.digest AND p.kind = 2))`
	projectHasBlobSQL = `SELECT EXISTS (SELECT 1 FROM repository_blobs
		WHERE digest = $2 AND repository_id IN (` + projectRepos + `))`
	projectHasManifestSQL = `SELECT EXISTS (SELECT 1 FROM manifests
		WHERE digest = $2 AND repository_id IN (` + projectRepos + `))`
)

// PutQuota creates or replaces the quota of q.Project.
func (q *querier) PutQuota(ctx context.Context, qt *meta.Quota) (err error) {
	defer errdefs.Wrapf(&err, "postgres: set quota of project %q", qt.Project)
	if qt.LimitBytes < 0 || qt.WarnBytes < 0 || qt.ArtifactLimit < 0 {
		return errdefs.Invalid("quota figures must not be negative")
	}
	updated := pgTimeOrNow(qt.UpdatedAt)
	tag, err := q.db.Exec(ctx, putQuotaSQL, qt.Project, qt.LimitBytes, qt.WarnBytes, qt.ArtifactLimit,
		updated, qt.UpdatedBy)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("project %q not found", qt.Project)
	}
	qt.UpdatedAt = updated.UTC()
	return nil
}

// GetQuota returns the quota of project or ErrNotFound.
func (q *querier) GetQuota(ctx context.Context, project string) (_ *meta.Quota, err error) {
	defer errdefs.Wrapf(&err, "postgres: quota of project %q", project)
	return scanQuota(q.db.QueryRow(ctx, getQuotaSQL, project), project)
}

// LockQuota returns the quota of project, locked FOR UPDATE until the
// transaction ends, or ErrNotFound.
func (q *querier) LockQuota(ctx context.Context, project string) (_ *meta.Quota, err error) {
	defer errdefs.Wrapf(&err, "postgres: lock quota of project %q", project)
	return scanQuota(q.db.QueryRow(ctx, lockQuotaSQL, project), project)
}

func scanQuota(row pgx.Row, project string) (*meta.Quota, error) {
	qt := meta.Quota{Project: project}
	err := row.Scan(&qt.LimitBytes, &qt.WarnBytes, &qt.ArtifactLimit, &qt.UpdatedAt, &qt.UpdatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errdefs.NotFound("project %q has no quota", project)
	}
	if err != nil {
		return nil, classify(err)
	}
	qt.UpdatedAt = qt.UpdatedAt.UTC()
	return &qt, nil
}

// DeleteQuota removes the quota of project; ErrNotFound if it had none.
func (q *querier) DeleteQuota(ctx context.Context, project string) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete quota of project %q", project)
	tag, err := q.db.Exec(ctx, deleteQuotaSQL, project)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("project %q has no quota", project)
	}
	return nil
}

// ProjectUsage computes the usage of project in one statement.
func (q *querier) ProjectUsage(ctx context.Context, project string) (u meta.Usage, err error) {
	defer errdefs.Wrapf(&err, "postgres: usage of project %q", project)
	err = q.db.QueryRow(ctx, projectUsageSQL, project).Scan(&u.StoredBytes, &u.LogicalBytes, &u.Artifacts)
	if err != nil {
		return meta.Usage{}, classify(err)
	}
	return u, nil
}

// ProjectHasBlob reports whether a repository of project links dgst.
func (q *querier) ProjectHasBlob(ctx context.Context, project string, dgst digest.Digest) (ok bool, err error) {
	defer errdefs.Wrapf(&err, "postgres: is blob %s in project %q", dgst, project)
	err = q.db.QueryRow(ctx, projectHasBlobSQL, project, string(dgst)).Scan(&ok)
	return ok, classify(err)
}

// ProjectHasManifest reports whether a repository of project stores the
// manifest dgst.
func (q *querier) ProjectHasManifest(ctx context.Context, project string, dgst digest.Digest) (ok bool, err error) {
	defer errdefs.Wrapf(&err, "postgres: is manifest %s in project %q", dgst, project)
	err = q.db.QueryRow(ctx, projectHasManifestSQL, project, string(dgst)).Scan(&ok)
	return ok, classify(err)
}
