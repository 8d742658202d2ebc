package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Project quotas and usage (meta.QuotaStore). SQLite runs one write
// transaction at a time, so LockQuota needs no lock of its own: inside
// WithTx the read holds until the transaction commits.

var (
	_ meta.QuotaStore = (*Store)(nil)
	_ meta.QuotaStore = (*querier)(nil)
)

// projectRepos selects the IDs of the repositories of project ?1: its name
// and every name under "?1/", as a range on the byte-ordered unique index.
const projectRepos = `SELECT id FROM repositories
	WHERE name = ?1 OR (name >= (?1 || '/') AND name < (?1 || '0'))`

var (
	putQuotaSQL = stmt(`INSERT INTO project_quotas
		(project_id, limit_bytes, warn_bytes, artifact_limit, updated_at, updated_by)
		SELECT id, ?2, ?3, ?4, ?5, ?6 FROM projects WHERE name = ?1
		ON CONFLICT (project_id) DO UPDATE SET limit_bytes = excluded.limit_bytes,
		warn_bytes = excluded.warn_bytes, artifact_limit = excluded.artifact_limit,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by`)
	getQuotaSQL = stmt(`SELECT q.limit_bytes, q.warn_bytes, q.artifact_limit, q.updated_at, q.updated_by
		FROM project_quotas q JOIN projects p ON p.id = q.project_id WHERE p.name = ?1`)
	deleteQuotaSQL = stmt(`DELETE FROM project_quotas
		WHERE project_id = (SELECT id FROM projects WHERE name = ?1)`)
	projectUsageSQL = stmt(`WITH r AS (` + projectRepos + `)
		SELECT
		  (SELECT COALESCE(SUM(b.size), 0) FROM blobs b WHERE b.digest IN
		     (SELECT rb.digest FROM repository_blobs rb WHERE rb.repository_id IN (SELECT id FROM r)))
		  + (SELECT COALESCE(SUM(size), 0) FROM
		     (SELECT DISTINCT m.digest, m.size FROM manifests m WHERE m.repository_id IN (SELECT id FROM r))),
		  (SELECT COALESCE(SUM(m.size), 0) FROM manifests m WHERE m.repository_id IN (SELECT id FROM r))
		  + (SELECT COALESCE(SUM(mr.size), 0) FROM manifest_refs mr
		     WHERE mr.repository_id IN (SELECT id FROM r) AND mr.kind = 1),
		  (SELECT COUNT(*) FROM manifests m WHERE m.repository_id IN (SELECT id FROM r)
		     AND NOT EXISTS (SELECT 1 FROM manifest_refs p WHERE p.repository_id = m.repository_id
		       AND p.child_digest = m.digest AND p.kind = 2))`)
	projectHasBlobSQL = stmt(`SELECT EXISTS (SELECT 1 FROM repository_blobs
		WHERE digest = ?2 AND repository_id IN (` + projectRepos + `))`)
	projectHasManifestSQL = stmt(`SELECT EXISTS (SELECT 1 FROM manifests
		WHERE digest = ?2 AND repository_id IN (` + projectRepos + `))`)
)

// PutQuota creates or replaces the quota of q.Project.
func (q *querier) PutQuota(ctx context.Context, qt *meta.Quota) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: set quota of project %q", qt.Project)
	if qt.LimitBytes < 0 || qt.WarnBytes < 0 || qt.ArtifactLimit < 0 {
		return errdefs.Invalid("quota figures must not be negative")
	}
	updated := microsOrNow(qt.UpdatedAt)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, putQuotaSQL, qt.Project, qt.LimitBytes, qt.WarnBytes,
			qt.ArtifactLimit, updated, qt.UpdatedBy))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("project %q not found", qt.Project)
		}
		qt.UpdatedAt = fromMicros(updated)
		return nil
	})
}

// GetQuota returns the quota of project or ErrNotFound.
func (q *querier) GetQuota(ctx context.Context, project string) (_ *meta.Quota, err error) {
	defer errdefs.Wrapf(&err, "sqlite: quota of project %q", project)
	return scanQuota(q.read.queryRow(ctx, getQuotaSQL, project), project)
}

// LockQuota returns the quota of project or ErrNotFound; inside a
// transaction the single writer keeps it stable until commit.
func (q *querier) LockQuota(ctx context.Context, project string) (_ *meta.Quota, err error) {
	defer errdefs.Wrapf(&err, "sqlite: lock quota of project %q", project)
	return scanQuota(q.read.queryRow(ctx, getQuotaSQL, project), project)
}

func scanQuota(row scanner, project string) (*meta.Quota, error) {
	qt := meta.Quota{Project: project}
	var updated int64
	err := row.Scan(&qt.LimitBytes, &qt.WarnBytes, &qt.ArtifactLimit, &updated, &qt.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("project %q has no quota", project)
	}
	if err != nil {
		return nil, classify(err)
	}
	qt.UpdatedAt = fromMicros(updated)
	return &qt, nil
}

// DeleteQuota removes the quota of project; ErrNotFound if it had none.
func (q *querier) DeleteQuota(ctx context.Context, project string) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete quota of project %q", project)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteQuotaSQL, project))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("project %q has no quota", project)
		}
		return nil
	})
}

// ProjectUsage computes the usage of project in one statement.
func (q *querier) ProjectUsage(ctx context.Context, project string) (u meta.Usage, err error) {
	defer errdefs.Wrapf(&err, "sqlite: usage of project %q", project)
	err = q.read.queryRow(ctx, projectUsageSQL, project).Scan(&u.StoredBytes, &u.LogicalBytes, &u.Artifacts)
	if err != nil {
		return meta.Usage{}, classify(err)
	}
	return u, nil
}

// ProjectHasBlob reports whether a repository of project links dgst.
func (q *querier) ProjectHasBlob(ctx context.Context, project string, dgst digest.Digest) (ok bool, err error) {
	defer errdefs.Wrapf(&err, "sqlite: is blob %s in project %q", dgst, project)
	err = q.read.queryRow(ctx, projectHasBlobSQL, project, string(dgst)).Scan(&ok)
	return ok, classify(err)
}

// ProjectHasManifest reports whether a repository of project stores the
// manifest dgst.
func (q *querier) ProjectHasManifest(ctx context.Context, project string, dgst digest.Digest) (ok bool, err error) {
	defer errdefs.Wrapf(&err, "sqlite: is manifest %s in project %q", dgst, project)
	err = q.read.queryRow(ctx, projectHasManifestSQL, project, string(dgst)).Scan(&ok)
	return ok, classify(err)
}
