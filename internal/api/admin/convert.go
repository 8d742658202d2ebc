package admin

import (
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// userOut shows u; the service never hands out password or secret hashes,
// and the API would not show them.
func userOut(u *meta.User) wire.User {
	return wire.User{
		Name:        u.Name,
		Email:       u.Email,
		SysAdmin:    u.SysAdmin,
		Disabled:    u.Disabled,
		OIDCIssuer:  u.Issuer,
		Groups:      u.Groups,
		CreatedAt:   wire.Time(u.CreatedAt),
		UpdatedAt:   wire.Time(u.UpdatedAt),
		LastLoginAt: wire.Time(u.LastLoginAt),
	}
}

func projectOut(p *meta.Project) wire.Project {
	return wire.Project{Name: p.Name, Public: p.Public, CreatedAt: wire.Time(p.CreatedAt), CreatedBy: p.CreatedBy}
}

func memberOut(m meta.Member) wire.Member {
	return wire.Member{Kind: string(m.Kind), Name: m.Name, Role: m.Role, CreatedAt: wire.Time(m.CreatedAt)}
}

// robotOut shows r without its secret hash.
func robotOut(r *meta.Robot) wire.Robot {
	return wire.Robot{
		Name:        r.Name,
		Project:     robotProject(r.Name),
		Description: r.Description,
		Permissions: permissionsOut(r.Permissions),
		ExpiresAt:   wire.Time(r.ExpiresAt),
		Disabled:    r.Disabled,
		CreatedAt:   wire.Time(r.CreatedAt),
		CreatedBy:   r.CreatedBy,
		LastUsedAt:  wire.Time(r.LastUsedAt),
	}
}

// robotProject returns the project of a robot account name
// ("robot$<project>+<name>"), or "" for a system robot ("robot$<name>").
func robotProject(name string) string {
	rest, _ := strings.CutPrefix(name, "robot$")
	project, _, ok := strings.Cut(rest, "+")
	if !ok {
		return ""
	}
	return project
}

func permissionsOut(ps []meta.RobotPermission) []wire.Permission {
	out := make([]wire.Permission, 0, len(ps))
	for _, p := range ps {
		out = append(out, wire.Permission{Project: p.Project, Repositories: p.Repositories, Actions: p.Actions})
	}
	return out
}

func permissionsIn(ps []wire.Permission) []meta.RobotPermission {
	out := make([]meta.RobotPermission, 0, len(ps))
	for _, p := range ps {
		out = append(out, meta.RobotPermission{Project: p.Project, Repositories: p.Repositories, Actions: p.Actions})
	}
	return out
}

func auditOut(e meta.AuditEvent) wire.AuditEvent {
	return wire.AuditEvent{
		ID: e.ID, At: wire.Time(e.At), ActorKind: e.ActorKind, Actor: e.Actor, Remote: e.Remote,
		Action: e.Action, Project: e.Project, Resource: e.Resource, Outcome: e.Outcome, Detail: e.Detail,
	}
}

// parseTime parses an RFC 3339 time given in field of a request; "" is
// the zero time.
func parseTime(field, s string) (time.Time, error) {
	t, err := wire.ParseTime(s)
	if err != nil {
		return time.Time{}, errdefs.Invalid("%s %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", field, s)
	}
	return t, nil
}
