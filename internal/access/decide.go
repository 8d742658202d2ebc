package access

import (
	"path"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Kind says what sort of caller a Principal is.
type Kind string

// The kinds of principal.
const (
	Anonymous Kind = "anonymous"
	UserKind  Kind = "user"
	RobotKind Kind = "robot"
	// System is Berth itself (background jobs), allowed everything.
	System Kind = "system"
)

// Principal is an authenticated caller.
type Principal struct {
	Kind Kind
	// Name is the user's or robot's account name ("" when anonymous).
	Name string
	// SysAdmin is set for system administrators (users only).
	SysAdmin bool
	// Groups are the user's groups (OIDC), matched against group members.
	Groups []string
	// Permissions are a robot's permissions.
	Permissions []meta.RobotPermission
	// ProjectID is a project robot's project (0 for a system robot).
	ProjectID int64
	// ExpiresAt is when a robot stops working (zero: never).
	ExpiresAt time.Time
}

// AnonymousPrincipal is the caller who presented no credentials.
var AnonymousPrincipal = Principal{Kind: Anonymous}

// IsAnonymous reports whether p presented no credentials.
func (p Principal) IsAnonymous() bool { return p.Kind == Anonymous || p.Kind == "" }

// String names p for logs and the audit log.
func (p Principal) String() string {
	if p.IsAnonymous() {
		return "anonymous"
	}
	return p.Name
}

// ProjectFacts is what a decision needs to know about one project: the
// project (nil if it does not exist) and the roles the principal holds in
// it, directly or through a group.
type ProjectFacts struct {
	Project *meta.Project
	Roles   []Role
}

// Decide returns the actions p may take on repository repo (a full name;
// "" for the project itself, e.g. to list it) of the project that facts
// describe, in the order of Actions. It is pure: every decision of Berth
// about a project goes through it.
func Decide(p Principal, facts ProjectFacts, repo string) []Action {
	if p.Kind == System || p.SysAdmin {
		return slices.Clone(Actions)
	}
	proj := facts.Project
	if proj == nil {
		return nil
	}
	var set []Action
	add := func(as []Action) {
		for _, a := range as {
			if !slices.Contains(set, a) {
				set = append(set, a)
			}
		}
	}
	if proj.Public {
		add(publicActions)
	}
	switch p.Kind {
	case UserKind:
		for _, r := range facts.Roles {
			add(roleActions[r])
		}
	case RobotKind:
		add(robotActions(p, proj, repo))
	}
	return ordered(set)
}

// robotActions returns what robot p's permissions grant on repo of proj.
// A project robot is confined to its own project whatever its permissions
// say.
func robotActions(p Principal, proj *meta.Project, repo string) []Action {
	if p.ProjectID != 0 && p.ProjectID != proj.ID {
		return nil
	}
	var out []Action
	for _, perm := range p.Permissions {
		if perm.Project != proj.Name && (perm.Project != "*" || p.ProjectID != 0) {
			continue
		}
		if repo != "" && !repoMatches(perm.Repositories, proj.Name, repo) {
			continue
		}
		for _, s := range perm.Actions {
			a := Action(s)
			if slices.Contains(RobotActions, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// repoMatches reports whether repo (a full name in project) matches one of
// patterns (relative to the project; none means every repository).
func repoMatches(patterns []string, project, repo string) bool {
	if len(patterns) == 0 {
		return true
	}
	rel, ok := strings.CutPrefix(repo, project+"/")
	if !ok {
		rel = ""
	}
	for _, pat := range patterns {
		if pat == "*" || pat == "**" {
			return true
		}
		if m, err := path.Match(pat, rel); err == nil && m {
			return true
		}
	}
	return false
}

// ordered returns set sorted in the order of Actions.
func ordered(set []Action) []Action {
	if len(set) == 0 {
		return nil
	}
	out := make([]Action, 0, len(set))
	for _, a := range Actions {
		if slices.Contains(set, a) {
			out = append(out, a)
		}
	}
	return out
}

// Has reports whether granted includes a.
func Has(granted []Action, a Action) bool { return slices.Contains(granted, a) }
