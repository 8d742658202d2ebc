package access

import (
	"context"
	"slices"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// CreateProject creates project name, public or private. System
// administrators may, and any signed-in user when the AutoCreate policy is
// AutoCreateUsers; a user creating a project becomes its project admin.
// ErrInvalid for a bad name, ErrAlreadyExists if it is taken.
func (s *Service) CreateProject(ctx context.Context, actor Principal, name string, public bool) (_ *meta.Project, err error) {
	defer s.record(ctx, actor, "project.create", name, name, &err)
	defer errdefs.Wrapf(&err, "create project %q", name)
	if !isSysAdmin(actor) && (s.auto != AutoCreateUsers || actor.Kind != UserKind) {
		return nil, errdefs.Denied("only a system administrator may create projects here")
	}
	if err := validProjectName(name); err != nil {
		return nil, err
	}
	if err := s.createProject(ctx, actor, name, public); err != nil {
		return nil, err
	}
	return s.store.GetProject(ctx, name)
}

// createProject stores project name and, for a user, the user's membership
// as project admin, in one transaction.
func (s *Service) createProject(ctx context.Context, actor Principal, name string, public bool) error {
	defer s.changed()
	return s.store.WithTx(ctx, func(tx meta.Querier) error {
		p := &meta.Project{Name: name, Public: public, CreatedAt: s.now(), CreatedBy: actor.Name}
		if err := tx.CreateProject(ctx, p); err != nil {
			return err
		}
		if actor.Kind != UserKind {
			return nil
		}
		return tx.PutMember(ctx, meta.Member{ProjectID: p.ID, Kind: meta.MemberUser, Name: actor.Name,
			Role: string(ProjectAdmin), CreatedAt: s.now()})
	})
}

// GetProject returns project name. ErrNotFound if it does not exist or
// actor may not see it (it is public, or actor may do anything in it).
func (s *Service) GetProject(ctx context.Context, actor Principal, name string) (_ *meta.Project, err error) {
	defer errdefs.Wrapf(&err, "get project %q", name)
	facts, err := s.queryFacts(ctx, actor, name)
	if err != nil {
		return nil, err
	}
	if facts.Project == nil || len(s.decide(actor, facts, "")) == 0 {
		return nil, errdefs.NotFound("project %q not found", name)
	}
	p := *facts.Project
	return &p, nil
}

// ListProjects returns up to limit (<= 0: no limit) of the projects actor
// may see, in name order after `after`.
func (s *Service) ListProjects(ctx context.Context, actor Principal, after string, limit int) (_ []meta.Project, err error) {
	defer errdefs.Wrapf(&err, "list projects")
	if actor.Expired(s.now()) {
		return nil, nil
	}
	roles := map[int64][]Role{}
	if actor.Kind == UserKind && !actor.SysAdmin {
		rs, err := s.store.RolesOf(ctx, actor.Name, actor.Groups)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			roles[r.ProjectID] = append(roles[r.ProjectID], Role(r.Role))
		}
	}
	const page = 200
	var out []meta.Project
	for {
		ps, err := s.store.ListProjects(ctx, after, page)
		if err != nil {
			return nil, err
		}
		for i := range ps {
			if len(s.decide(actor, ProjectFacts{Project: &ps[i], Roles: roles[ps[i].ID]}, "")) == 0 {
				continue
			}
			out = append(out, ps[i])
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if len(ps) < page {
			return out, nil
		}
		after = ps[len(ps)-1].Name
	}
}

// UpdateProject makes project name public or private; actor needs
// ManageProject.
func (s *Service) UpdateProject(ctx context.Context, actor Principal, name string, public bool) (_ *meta.Project, err error) {
	defer s.record(ctx, actor, "project.update", name, name, &err)
	defer errdefs.Wrapf(&err, "update project %q", name)
	facts, err := s.projectFor(ctx, actor, name, ManageProject)
	if err != nil {
		return nil, err
	}
	p := *facts.Project
	p.Public = public
	defer s.changed()
	if err := s.store.UpdateProject(ctx, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// DeleteProject deletes project name with its members and robots; actor
// needs ManageProject. ErrConflict while a repository of it holds a
// manifest.
func (s *Service) DeleteProject(ctx context.Context, actor Principal, name string) (err error) {
	defer s.record(ctx, actor, "project.delete", name, name, &err)
	defer errdefs.Wrapf(&err, "delete project %q", name)
	if _, err := s.projectFor(ctx, actor, name, ManageProject); err != nil {
		return err
	}
	defer s.changed()
	err = s.store.DeleteProject(ctx, name)
	if errdefs.IsConflict(err) {
		return errdefs.Wrap(errdefs.ErrConflict, err, "the project still has images; delete its repositories first")
	}
	return err
}

// PutMember gives a user or group role in project (replacing a role it
// held); actor needs ManageMembers. A user must exist.
func (s *Service) PutMember(ctx context.Context, actor Principal, project string, kind meta.MemberKind, name string, role Role) (err error) {
	defer s.record(ctx, actor, "member.put", project, string(kind)+":"+name, &err)
	defer errdefs.Wrapf(&err, "add %s %q to project %q", kind, name, project)
	facts, err := s.projectFor(ctx, actor, project, ManageMembers)
	if err != nil {
		return err
	}
	if !slices.Contains(Roles, role) {
		r, perr := ParseRole(string(role))
		if perr != nil {
			return errdefs.Invalid("%v", perr)
		}
		role = r
	}
	if err := s.checkMember(ctx, kind, name); err != nil {
		return err
	}
	defer s.changed()
	return s.store.PutMember(ctx, meta.Member{ProjectID: facts.Project.ID, Kind: kind, Name: name,
		Role: string(role), CreatedAt: s.now()})
}

// checkMember checks the kind and name of a new member.
func (s *Service) checkMember(ctx context.Context, kind meta.MemberKind, name string) error {
	switch kind {
	case meta.MemberUser:
		if err := validUserName(name); err != nil {
			return err
		}
		_, err := s.store.GetUser(ctx, name)
		if errdefs.IsNotFound(err) {
			return errdefs.Invalid("there is no user %q; create the user (or let them sign in once) first", name)
		}
		return err
	case meta.MemberGroup:
		return validGroupName(name)
	}
	return errdefs.Invalid("invalid member kind %q: use %q or %q", kind, meta.MemberUser, meta.MemberGroup)
}

// DeleteMember removes a user or group from project; actor needs
// ManageMembers. ErrNotFound if it was not a member.
func (s *Service) DeleteMember(ctx context.Context, actor Principal, project string, kind meta.MemberKind, name string) (err error) {
	defer s.record(ctx, actor, "member.delete", project, string(kind)+":"+name, &err)
	defer errdefs.Wrapf(&err, "remove %s %q from project %q", kind, name, project)
	facts, err := s.projectFor(ctx, actor, project, ManageMembers)
	if err != nil {
		return err
	}
	defer s.changed()
	return s.store.DeleteMember(ctx, facts.Project.ID, kind, name)
}

// ListMembers returns the members of project, users then groups, in name
// order; actor needs ReadMembers.
func (s *Service) ListMembers(ctx context.Context, actor Principal, project string) (_ []meta.Member, err error) {
	defer errdefs.Wrapf(&err, "list members of project %q", project)
	facts, err := s.projectFor(ctx, actor, project, ReadMembers)
	if err != nil {
		return nil, err
	}
	return s.store.ListMembers(ctx, facts.Project.ID)
}
