package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

const projectCols = `id, name, public, created_at, created_by`

// Projects and members.
const (
	insertProjectSQL = `INSERT INTO projects (name, public, created_at, created_by)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id`
	getProjectSQL    = `SELECT ` + projectCols + ` FROM projects WHERE name = $1`
	updateProjectSQL = `UPDATE projects SET public = $1 WHERE id = $2`
	// A repository belongs to project p when its name is p or starts with
	// "p/": the range [p/, p0) holds exactly the latter ('0' follows '/'),
	// and walks the unique index on the name. The project goes (its members
	// and robots by cascade) only if it exists and none of them holds a
	// manifest; the columns say which.
	deleteProjectSQL = `WITH p AS (
			SELECT id FROM projects WHERE name = $1::text
		), busy AS (
			SELECT EXISTS (SELECT 1 FROM repositories r
				WHERE (r.name = $1::text OR (r.name >= ($1 || '/') AND r.name < ($1 || '0')))
				AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)) AS b
		), d AS (
			DELETE FROM projects WHERE id = (SELECT id FROM p) AND NOT (SELECT b FROM busy)
			RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM p), (SELECT b FROM busy)`
	listProjectsSQL = `SELECT ` + projectCols + ` FROM projects WHERE name > $1
		ORDER BY name LIMIT $2`
	// The member is inserted only if the project exists (no foreign key
	// failure to abort a transaction); a replaced role keeps its creation
	// time.
	putMemberSQL = `INSERT INTO project_members (project_id, kind, name, role, created_at)
		SELECT id, $1::text, $2::text, $3::text, $4::timestamptz FROM projects WHERE id = $5
		ON CONFLICT (project_id, kind, name) DO UPDATE SET role = excluded.role`
	deleteMemberSQL = `DELETE FROM project_members
		WHERE project_id = $1 AND kind = $2 AND name = $3`
	listMembersSQL = `SELECT project_id, kind, name, role, created_at FROM project_members
		WHERE project_id = $1 ORDER BY kind = 'group', name`
	rolesOfSQL = `SELECT p.id, p.name, m.role FROM project_members m
		JOIN projects p ON p.id = m.project_id
		WHERE (m.kind = 'user' AND m.name = $1) OR (m.kind = 'group' AND m.name = ANY ($2::text[]))
		ORDER BY p.name, m.kind = 'group', m.name`
)

func scanProject(row pgx.Row) (*meta.Project, error) {
	var p meta.Project
	if err := row.Scan(&p.ID, &p.Name, &p.Public, &p.CreatedAt, &p.CreatedBy); err != nil {
		return nil, err
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return &p, nil
}

// CreateProject stores p and sets p.ID (CreatedAt defaults to now);
// ErrAlreadyExists if the name is taken.
func (q *querier) CreateProject(ctx context.Context, p *meta.Project) (err error) {
	defer errdefs.Wrapf(&err, "postgres: create project %q", p.Name)
	err = q.db.QueryRow(ctx, insertProjectSQL, p.Name, p.Public, pgTimeOrNow(p.CreatedAt), p.CreatedBy).Scan(&p.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return errdefs.AlreadyExists("project %q already exists", p.Name)
	}
	return classify(err)
}

// GetProject returns the project called name or ErrNotFound.
func (q *querier) GetProject(ctx context.Context, name string) (_ *meta.Project, err error) {
	defer errdefs.Wrapf(&err, "postgres: get project %q", name)
	return getOne(ctx, q.db, scanProject, fmt.Sprintf("project %q", name), getProjectSQL, name)
}

// UpdateProject stores p.Public (by p.ID); ErrNotFound if absent.
func (q *querier) UpdateProject(ctx context.Context, p *meta.Project) (err error) {
	defer errdefs.Wrapf(&err, "postgres: update project %d", p.ID)
	tag, err := q.db.Exec(ctx, updateProjectSQL, p.Public, p.ID)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("project %d not found", p.ID)
	}
	return nil
}

// DeleteProject removes the project with its members and robots (foreign
// keys cascade); ErrNotFound if absent, ErrConflict while a repository of
// the project holds a manifest. Repository rows without manifests stay.
func (q *querier) DeleteProject(ctx context.Context, name string) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete project %q", name)
	var exists, busy bool
	if err := q.db.QueryRow(ctx, deleteProjectSQL, name).Scan(&exists, &busy); err != nil {
		return classify(err)
	}
	switch {
	case !exists:
		return errdefs.NotFound("project %q not found", name)
	case busy:
		return errdefs.Conflict("project %q still holds manifests", name)
	}
	return nil
}

// ListProjects returns up to limit (all if limit <= 0) projects in byte
// order of name, strictly after `after`.
func (q *querier) ListProjects(ctx context.Context, after string, limit int) (_ []meta.Project, err error) {
	defer errdefs.Wrapf(&err, "postgres: list projects after %q", after)
	return queryAll(ctx, q.db, scanProject, listProjectsSQL, after, limitArg(limit))
}

// checkKind refuses a member kind the contract does not know.
func checkKind(kind meta.MemberKind) error {
	if kind != meta.MemberUser && kind != meta.MemberGroup {
		return errdefs.Invalid("member kind %q is neither %q nor %q", kind, meta.MemberUser, meta.MemberGroup)
	}
	return nil
}

// PutMember grants m.Role to the member, replacing a role it held (its
// CreatedAt, now if zero, is kept from the first grant); ErrNotFound if
// the project is absent, ErrInvalid for an unknown kind.
func (q *querier) PutMember(ctx context.Context, m meta.Member) (err error) {
	defer errdefs.Wrapf(&err, "postgres: put %s member %q of project %d", m.Kind, m.Name, m.ProjectID)
	if err := checkKind(m.Kind); err != nil {
		return err
	}
	tag, err := q.db.Exec(ctx, putMemberSQL, string(m.Kind), m.Name, m.Role, pgTimeOrNow(m.CreatedAt), m.ProjectID)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("project %d not found", m.ProjectID)
	}
	return nil
}

// DeleteMember removes the member; ErrNotFound if absent.
func (q *querier) DeleteMember(ctx context.Context, projectID int64, kind meta.MemberKind, name string) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete %s member %q of project %d", kind, name, projectID)
	tag, err := q.db.Exec(ctx, deleteMemberSQL, projectID, string(kind), name)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("%s %q is not a member of project %d", kind, name, projectID)
	}
	return nil
}

func scanMember(row pgx.Row) (*meta.Member, error) {
	var (
		m    meta.Member
		kind string
	)
	if err := row.Scan(&m.ProjectID, &kind, &m.Name, &m.Role, &m.CreatedAt); err != nil {
		return nil, err
	}
	m.Kind, m.CreatedAt = meta.MemberKind(kind), m.CreatedAt.UTC()
	return &m, nil
}

// ListMembers returns the members of the project, users then groups, each
// in byte order of name (none for an absent project).
func (q *querier) ListMembers(ctx context.Context, projectID int64) (_ []meta.Member, err error) {
	defer errdefs.Wrapf(&err, "postgres: list members of project %d", projectID)
	return queryAll(ctx, q.db, scanMember, listMembersSQL, projectID)
}

func scanProjectRole(row pgx.Row) (*meta.ProjectRole, error) {
	var r meta.ProjectRole
	if err := row.Scan(&r.ProjectID, &r.Project, &r.Role); err != nil {
		return nil, err
	}
	return &r, nil
}

// RolesOf returns the roles held by user directly or by any of groups, in
// byte order of project name; within a project, the user's own role comes
// before those of its groups (in group name order).
func (q *querier) RolesOf(ctx context.Context, user string, groups []string) (_ []meta.ProjectRole, err error) {
	defer errdefs.Wrapf(&err, "postgres: roles of user %q", user)
	return queryAll(ctx, q.db, scanProjectRole, rolesOfSQL, user, textArray(groups))
}
