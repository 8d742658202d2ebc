// Package access decides who may do what: the roles of project members, the
// permissions of robot accounts, the system administrator above projects,
// public projects for anonymous pulls. The decisions are pure functions of
// a Principal and what the metadata store says about the project (model.go,
// decide.go); the Service (service.go) manages users, projects, members and
// robots on top of the metadata store.
package access

import (
	"fmt"
	"slices"
	"strings"
)

// Action is something a principal may be allowed to do in a project.
type Action string

// The actions. Pull and Push are the registry's; the others guard the
// admin API and later features.
const (
	// Pull reads manifests, blobs, tags and referrers of a repository.
	Pull Action = "pull"
	// Push uploads blobs and manifests and creates or moves tags.
	Push Action = "push"
	// Delete deletes manifests, tags and blobs.
	Delete Action = "delete"
	// List lists the project's repositories (catalog) and its tags.
	List Action = "list"
	// ReadScan reads scan results and SBOMs.
	ReadScan Action = "read-scan"
	// ReadMembers lists the members and robots of the project.
	ReadMembers Action = "read-members"
	// ReadAudit reads the project's audit log.
	ReadAudit Action = "read-audit"
	// ManagePolicies changes tag immutability rules, retention and scan
	// policies.
	ManagePolicies Action = "manage-policies"
	// ManageRobots creates, changes and deletes the project's robots.
	ManageRobots Action = "manage-robots"
	// ManageMembers adds, changes and removes members.
	ManageMembers Action = "manage-members"
	// ManageProject changes the project's settings and deletes it.
	ManageProject Action = "manage-project"
)

// Actions lists every action, in the order above.
var Actions = []Action{Pull, Push, Delete, List, ReadScan, ReadMembers, ReadAudit,
	ManagePolicies, ManageRobots, ManageMembers, ManageProject}

// RobotActions are the actions a robot may be given: registry work, never
// the management of people or of the project.
var RobotActions = []Action{Pull, Push, Delete, List, ReadScan}

// Role is a project member's role.
type Role string

// The roles, from the most to the least powerful, as in Harbor.
const (
	ProjectAdmin Role = "projectAdmin"
	Maintainer   Role = "maintainer"
	Developer    Role = "developer"
	Guest        Role = "guest"
	LimitedGuest Role = "limitedGuest"
)

// Roles lists the roles, the most powerful first.
var Roles = []Role{ProjectAdmin, Maintainer, Developer, Guest, LimitedGuest}

// roleActions is what each role may do.
var roleActions = map[Role][]Action{
	ProjectAdmin: Actions,
	Maintainer:   {Pull, Push, Delete, List, ReadScan, ReadMembers, ReadAudit, ManagePolicies, ManageRobots},
	Developer:    {Pull, Push, List, ReadScan, ReadMembers},
	Guest:        {Pull, List, ReadScan, ReadMembers},
	LimitedGuest: {Pull},
}

// publicActions is what anyone may do in a public project.
var publicActions = []Action{Pull, List}

// ParseRole returns the role called s (case-insensitive; "admin" and
// "project-admin" mean ProjectAdmin, "limited-guest" LimitedGuest).
func ParseRole(s string) (Role, error) {
	k := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(s, "-", ""), "_", ""))
	switch k {
	case "projectadmin", "admin":
		return ProjectAdmin, nil
	case "maintainer":
		return Maintainer, nil
	case "developer":
		return Developer, nil
	case "guest":
		return Guest, nil
	case "limitedguest":
		return LimitedGuest, nil
	}
	return "", fmt.Errorf("unknown role %q (want one of projectAdmin, maintainer, developer, guest, limitedGuest)", s)
}

// ParseAction returns the action called s.
func ParseAction(s string) (Action, error) {
	a := Action(strings.ToLower(s))
	if slices.Contains(Actions, a) {
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q", s)
}

// RoleActions returns what role r may do (nil for an unknown role).
func RoleActions(r Role) []Action { return slices.Clone(roleActions[r]) }

// Allows reports whether role r may take action a.
func (r Role) Allows(a Action) bool { return slices.Contains(roleActions[r], a) }

// ProjectOf returns the project of a repository name: its first path
// component.
func ProjectOf(repo string) string {
	p, _, _ := strings.Cut(repo, "/")
	return p
}
