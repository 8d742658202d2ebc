package access

import (
	"context"
	"slices"
	"time"

	"github.com/berth-registry/berth/internal/auth/secret"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// NewRobot describes a robot account to create.
type NewRobot struct {
	// Project owns the robot; "" makes a system robot (system
	// administrators only).
	Project string
	// Name is the robot's own name; the account is robot$<project>+<name>
	// or, for a system robot, robot$<name>.
	Name        string
	Description string
	// Permissions are limited to RobotActions; a project robot's name only
	// its project, and no action its creator may not take there.
	Permissions []meta.RobotPermission
	// ExpiresAt is when the robot stops working; zero: never.
	ExpiresAt time.Time
}

// RobotChange lists what UpdateRobot changes: nil fields are left alone.
type RobotChange struct {
	Description *string
	Permissions *[]meta.RobotPermission
	// ExpiresAt, when set, replaces the expiry; a zero time means never.
	ExpiresAt *time.Time
	Disabled  *bool
}

// CreateRobot creates a robot and returns it with its secret, which is
// shown this once (only its hash is kept). A project robot needs
// ManageRobots on its project, a system robot a system administrator.
func (s *Service) CreateRobot(ctx context.Context, actor Principal, nr NewRobot) (_ *meta.Robot, _ string, err error) {
	full := robotFullName(nr.Project, nr.Name)
	defer s.record(ctx, actor, "robot.create", nr.Project, full, &err)
	defer errdefs.Wrapf(&err, "create robot %q", full)
	if _, _, err := parseRobotName(full); err != nil {
		return nil, "", err
	}
	projectID, allowed, err := s.robotScope(ctx, actor, nr.Project, ManageRobots)
	if err != nil {
		return nil, "", err
	}
	perms, err := normalizePermissions(nr.Project, nr.Permissions, allowed)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkExpiry(nr.ExpiresAt); err != nil {
		return nil, "", err
	}
	if err := validDescription(nr.Description); err != nil {
		return nil, "", err
	}
	sec, err := secret.NewSecret()
	if err != nil {
		return nil, "", err
	}
	r := &meta.Robot{Name: full, ProjectID: projectID, Description: nr.Description,
		SecretHash: secret.HashSecret(sec), Permissions: perms, ExpiresAt: nr.ExpiresAt,
		CreatedAt: s.now(), CreatedBy: actor.Name}
	if err := s.store.CreateRobot(ctx, r); err != nil {
		return nil, "", err
	}
	return scrubRobot(r), sec, nil
}

// robotScope checks that actor may take action on the robots of project
// ("" for system robots: system administrators only) and returns the
// project's id and what actor may do there (nil: no limit).
func (s *Service) robotScope(ctx context.Context, actor Principal, project string, action Action) (int64, []Action, error) {
	if project == "" {
		if err := requireSysAdmin(actor, "manage system robots"); err != nil {
			return 0, nil, err
		}
		return 0, nil, nil
	}
	facts, err := s.projectFor(ctx, actor, project, action)
	if err != nil {
		return 0, nil, err
	}
	return facts.Project.ID, s.decide(actor, facts, ""), nil
}

// robotFor parses a robot's account name, checks that actor may take
// action on it, and loads it.
func (s *Service) robotFor(ctx context.Context, actor Principal, name string, action Action) (*meta.Robot, []Action, error) {
	project, _, err := parseRobotName(name)
	if err != nil {
		return nil, nil, err
	}
	_, allowed, err := s.robotScope(ctx, actor, project, action)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.store.GetRobot(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return r, allowed, nil
}

// checkExpiry refuses an expiry that has already passed.
func (s *Service) checkExpiry(t time.Time) error {
	if !t.IsZero() && !t.After(s.now()) {
		return errdefs.Invalid("the expiry %s has passed; give a future time, or none for a robot that does not expire",
			t.UTC().Format(time.RFC3339))
	}
	return nil
}

// GetRobot returns the robot called name (a full account name), without its
// secret hash. A project robot needs ReadMembers on its project, a system
// robot a system administrator.
func (s *Service) GetRobot(ctx context.Context, actor Principal, name string) (_ *meta.Robot, err error) {
	defer errdefs.Wrapf(&err, "get robot %q", name)
	r, _, err := s.robotFor(ctx, actor, name, ReadMembers)
	if err != nil {
		return nil, err
	}
	return scrubRobot(r), nil
}

// ListRobots returns the robots of project ("" for system robots) in name
// order, without secret hashes; ReadMembers on the project, or a system
// administrator for system robots.
func (s *Service) ListRobots(ctx context.Context, actor Principal, project string) (_ []meta.Robot, err error) {
	defer errdefs.Wrapf(&err, "list robots of %q", project)
	id, _, err := s.robotScope(ctx, actor, project, ReadMembers)
	if err != nil {
		return nil, err
	}
	rs, err := s.store.ListRobots(ctx, id)
	if err != nil {
		return nil, err
	}
	for i := range rs {
		rs[i] = *scrubRobot(&rs[i])
	}
	return rs, nil
}

// UpdateRobot applies ch to robot name; ManageRobots on its project, or a
// system administrator for a system robot. Permissions obey the rules of
// CreateRobot.
func (s *Service) UpdateRobot(ctx context.Context, actor Principal, name string, ch RobotChange) (_ *meta.Robot, err error) {
	project, _, _ := parseRobotName(name)
	defer s.record(ctx, actor, "robot.update", project, name, &err)
	defer errdefs.Wrapf(&err, "update robot %q", name)
	r, allowed, err := s.robotFor(ctx, actor, name, ManageRobots)
	if err != nil {
		return nil, err
	}
	if ch.Description != nil {
		if err := validDescription(*ch.Description); err != nil {
			return nil, err
		}
		r.Description = *ch.Description
	}
	if ch.Permissions != nil {
		if r.Permissions, err = normalizePermissions(project, *ch.Permissions, allowed); err != nil {
			return nil, err
		}
	}
	if ch.ExpiresAt != nil {
		if err := s.checkExpiry(*ch.ExpiresAt); err != nil {
			return nil, err
		}
		r.ExpiresAt = *ch.ExpiresAt
	}
	if ch.Disabled != nil {
		r.Disabled = *ch.Disabled
	}
	if err := s.store.UpdateRobot(ctx, r); err != nil {
		return nil, err
	}
	return scrubRobot(r), nil
}

// RegenerateRobotSecret gives robot name a new secret and returns it, to be
// shown once; the old secret stops working. Same rights as UpdateRobot.
func (s *Service) RegenerateRobotSecret(ctx context.Context, actor Principal, name string) (_ string, err error) {
	project, _, _ := parseRobotName(name)
	defer s.record(ctx, actor, "robot.secret", project, name, &err)
	defer errdefs.Wrapf(&err, "regenerate the secret of robot %q", name)
	r, _, err := s.robotFor(ctx, actor, name, ManageRobots)
	if err != nil {
		return "", err
	}
	sec, err := secret.NewSecret()
	if err != nil {
		return "", err
	}
	r.SecretHash = secret.HashSecret(sec)
	if err := s.store.UpdateRobot(ctx, r); err != nil {
		return "", err
	}
	return sec, nil
}

// DeleteRobot deletes robot name; same rights as UpdateRobot.
func (s *Service) DeleteRobot(ctx context.Context, actor Principal, name string) (err error) {
	project, _, _ := parseRobotName(name)
	defer s.record(ctx, actor, "robot.delete", project, name, &err)
	defer errdefs.Wrapf(&err, "delete robot %q", name)
	if _, _, err := s.robotFor(ctx, actor, name, ManageRobots); err != nil {
		return err
	}
	return s.store.DeleteRobot(ctx, name)
}

// scrubRobot returns a copy of r without its secret hash.
func scrubRobot(r *meta.Robot) *meta.Robot {
	c := *r
	c.SecretHash = ""
	c.Permissions = slices.Clone(r.Permissions)
	return &c
}
