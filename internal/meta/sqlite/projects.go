package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

const projectCols = `id, name, public, created_at, created_by`

// Projects and members.
var (
	insertProjectSQL = stmt(`INSERT INTO projects (name, public, created_at, created_by)
		VALUES (?, ?, ?, ?)`)
	getProjectSQL    = stmt(`SELECT ` + projectCols + ` FROM projects WHERE name = ?`)
	updateProjectSQL = stmt(`UPDATE projects SET public = ? WHERE id = ?`)
	// A repository belongs to project p when its name is p or starts with
	// "p/": the range [p/, p0) holds exactly the latter ('0' follows '/'),
	// and walks the unique index on the name.
	projectInUseSQL = stmt(`SELECT EXISTS (SELECT 1 FROM repositories r
		WHERE (r.name = ?1 OR (r.name >= (?1 || '/') AND r.name < (?1 || '0')))
		AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id))`)
	deleteProjectSQL = stmt(`DELETE FROM projects WHERE name = ?`)
	listProjectsSQL  = stmt(`SELECT ` + projectCols + ` FROM projects WHERE name > ?
		ORDER BY name LIMIT ?`)
	// The member is inserted only if the project exists (no foreign key
	// failure to tell apart); a replaced role keeps its creation time.
	putMemberSQL = stmt(`INSERT INTO project_members (project_id, kind, name, role, created_at)
		SELECT id, ?, ?, ?, ? FROM projects WHERE id = ?
		ON CONFLICT (project_id, kind, name) DO UPDATE SET role = excluded.role`)
	deleteMemberSQL = stmt(`DELETE FROM project_members
		WHERE project_id = ? AND kind = ? AND name = ?`)
	listMembersSQL = stmt(`SELECT project_id, kind, name, role, created_at FROM project_members
		WHERE project_id = ? ORDER BY kind = 'group', name`)
	rolesOfSQL = stmt(`SELECT p.id, p.name, m.role FROM project_members m
		JOIN projects p ON p.id = m.project_id
		WHERE (m.kind = 'user' AND m.name = ?)
			OR (m.kind = 'group' AND m.name IN (SELECT value FROM json_each(?)))
		ORDER BY p.name, m.kind = 'group', m.name`)
)

func scanProject(row scanner) (*meta.Project, error) {
	var (
		p       meta.Project
		created int64
	)
	if err := row.Scan(&p.ID, &p.Name, &p.Public, &created, &p.CreatedBy); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMicros(created)
	return &p, nil
}

// CreateProject stores p and sets p.ID (CreatedAt defaults to now);
// ErrAlreadyExists if the name is taken.
func (q *querier) CreateProject(ctx context.Context, p *meta.Project) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: create project %q", p.Name)
	return q.write(ctx, func(w runner) error {
		res, err := w.exec(ctx, insertProjectSQL, p.Name, p.Public, microsOrNow(p.CreatedAt), p.CreatedBy)
		if isUniqueViolation(err) {
			return errdefs.AlreadyExists("project %q already exists", p.Name)
		}
		if err != nil {
			return classify(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return classify(err)
		}
		p.ID = id
		return nil
	})
}

// GetProject returns the project called name or ErrNotFound.
func (q *querier) GetProject(ctx context.Context, name string) (_ *meta.Project, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get project %q", name)
	p, err := scanProject(q.read.queryRow(ctx, getProjectSQL, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("project %q not found", name)
	}
	if err != nil {
		return nil, classify(err)
	}
	return p, nil
}

// UpdateProject stores p.Public (by p.ID); ErrNotFound if absent.
func (q *querier) UpdateProject(ctx context.Context, p *meta.Project) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: update project %d", p.ID)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, updateProjectSQL, p.Public, p.ID))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("project %d not found", p.ID)
		}
		return nil
	})
}

// DeleteProject removes the project with its members and robots (foreign
// keys cascade); ErrNotFound if absent, ErrConflict while a repository of
// the project holds a manifest. Repository rows without manifests stay.
func (q *querier) DeleteProject(ctx context.Context, name string) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete project %q", name)
	return q.write(ctx, func(w runner) error {
		if _, err := scanProject(w.queryRow(ctx, getProjectSQL, name)); errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFound("project %q not found", name)
		} else if err != nil {
			return classify(err)
		}
		var inUse bool
		if err := w.queryRow(ctx, projectInUseSQL, name).Scan(&inUse); err != nil {
			return classify(err)
		}
		if inUse {
			return errdefs.Conflict("project %q still holds manifests", name)
		}
		_, err := w.exec(ctx, deleteProjectSQL, name)
		return classify(err)
	})
}

// ListProjects returns up to limit (all if limit <= 0) projects in byte
// order of name, strictly after `after`.
func (q *querier) ListProjects(ctx context.Context, after string, limit int) (_ []meta.Project, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list projects after %q", after)
	rows, err := q.read.query(ctx, listProjectsSQL, after, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanProject)
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
	defer errdefs.Wrapf(&err, "sqlite: put %s member %q of project %d", m.Kind, m.Name, m.ProjectID)
	if err := checkKind(m.Kind); err != nil {
		return err
	}
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, putMemberSQL, string(m.Kind), m.Name, m.Role,
			microsOrNow(m.CreatedAt), m.ProjectID))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("project %d not found", m.ProjectID)
		}
		return nil
	})
}

// DeleteMember removes the member; ErrNotFound if absent.
func (q *querier) DeleteMember(ctx context.Context, projectID int64, kind meta.MemberKind, name string) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete %s member %q of project %d", kind, name, projectID)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteMemberSQL, projectID, string(kind), name))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("%s %q is not a member of project %d", kind, name, projectID)
		}
		return nil
	})
}

func scanMember(row scanner) (*meta.Member, error) {
	var (
		m       meta.Member
		kind    string
		created int64
	)
	if err := row.Scan(&m.ProjectID, &kind, &m.Name, &m.Role, &created); err != nil {
		return nil, err
	}
	m.Kind, m.CreatedAt = meta.MemberKind(kind), fromMicros(created)
	return &m, nil
}

// ListMembers returns the members of the project, users then groups, each
// in byte order of name (none for an absent project).
func (q *querier) ListMembers(ctx context.Context, projectID int64) (_ []meta.Member, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list members of project %d", projectID)
	rows, err := q.read.query(ctx, listMembersSQL, projectID)
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanMember)
}

func scanProjectRole(row scanner) (*meta.ProjectRole, error) {
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
	defer errdefs.Wrapf(&err, "sqlite: roles of user %q", user)
	list, err := toJSON(groups)
	if err != nil {
		return nil, err
	}
	rows, err := q.read.query(ctx, rolesOfSQL, user, list)
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanProjectRole)
}
