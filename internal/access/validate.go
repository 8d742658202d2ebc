package access

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/ref"
)

// MinPasswordLength is the shortest password a local account may have.
const MinPasswordLength = 8

// accountName is the shape of user names and of robots' own names.
var accountName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// validProjectName checks name against the rules of a repository name's
// first component.
func validProjectName(name string) error {
	if strings.Contains(name, "/") {
		return errdefs.Invalid("invalid project name %q: a project is one path component; remove the %q", name, "/")
	}
	if err := ref.ValidRepository(name); err != nil {
		return errdefs.Invalid("invalid project name %q: use lowercase letters and digits, joined by single %q, %q or %q (%v)",
			name, ".", "_", "-", err)
	}
	return nil
}

// validUserName checks a user name.
func validUserName(name string) error {
	if !accountName.MatchString(name) {
		return errdefs.Invalid("invalid user name %q: use 1 to 64 lowercase letters, digits, %q, %q or %q, starting with a letter or digit",
			name, ".", "_", "-")
	}
	return nil
}

// validPassword checks a new password.
func validPassword(pw string) error {
	if len(pw) < MinPasswordLength {
		return errdefs.Invalid("the password is too short: use at least %d characters", MinPasswordLength)
	}
	if len(pw) > 1024 {
		return errdefs.Invalid("the password is too long: use at most 1024 bytes")
	}
	return nil
}

// validEmail checks an e-mail address loosely ("" is allowed).
func validEmail(email string) error {
	if email == "" {
		return nil
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || len(email) > 254 || strings.ContainsFunc(email, unicode.IsSpace) {
		return errdefs.Invalid("invalid e-mail address %q: expected name@domain", email)
	}
	return nil
}

// validGroupName checks a group member's name, as an identity provider
// may spell it.
func validGroupName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsFunc(name, unicode.IsControl) {
		return errdefs.Invalid("invalid group name %q: use 1 to 255 printable characters, as your identity provider names the group", name)
	}
	return nil
}

// validDescription checks a robot's description.
func validDescription(d string) error {
	if len(d) > 1024 || strings.ContainsFunc(d, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return errdefs.Invalid("invalid description: use at most 1024 printable characters")
	}
	return nil
}

// robotPrefix starts every robot account name.
const robotPrefix = "robot$"

// robotFullName returns the account name of robot name of project ("" for
// a system robot).
func robotFullName(project, name string) string {
	if project == "" {
		return robotPrefix + name
	}
	return robotPrefix + project + "+" + name
}

// parseRobotName splits a robot account name into its project ("" for a
// system robot) and its own name.
func parseRobotName(full string) (project, name string, err error) {
	rest, ok := strings.CutPrefix(full, robotPrefix)
	if !ok {
		return "", "", errdefs.Invalid("invalid robot name %q: robot accounts are named robot$<project>+<name> or robot$<name>", full)
	}
	project, name, scoped := strings.Cut(rest, "+")
	if !scoped {
		project, name = "", rest
	} else if err := validProjectName(project); err != nil {
		return "", "", err
	}
	if !accountName.MatchString(name) {
		return "", "", errdefs.Invalid("invalid robot name %q: its own name must be 1 to 64 lowercase letters, digits, %q, %q or %q",
			full, ".", "_", "-")
	}
	return project, name, nil
}

// normalizePermissions checks and returns a cleaned copy of the
// permissions of a robot of project ("" for a system robot): at least one,
// actions only among RobotActions (lower-cased, deduplicated, in the order
// of Actions) and within allowed (what the creator may do; nil means no
// limit), a project robot's naming only its project, patterns well formed.
func normalizePermissions(project string, perms []meta.RobotPermission, allowed []Action) ([]meta.RobotPermission, error) {
	if len(perms) == 0 {
		return nil, errdefs.Invalid(`a robot needs at least one permission, e.g. {"project": %q, "actions": ["pull"]}`, orStar(project))
	}
	out := make([]meta.RobotPermission, 0, len(perms))
	for _, p := range perms {
		if err := checkPermissionProject(project, p.Project); err != nil {
			return nil, err
		}
		acts, err := robotPermissionActions(p, allowed)
		if err != nil {
			return nil, err
		}
		repos, err := checkRepositoryPatterns(p)
		if err != nil {
			return nil, err
		}
		out = append(out, meta.RobotPermission{Project: p.Project, Repositories: repos, Actions: acts})
	}
	return out, nil
}

func orStar(project string) string {
	if project == "" {
		return "*"
	}
	return project
}

// checkPermissionProject checks the project a permission names.
func checkPermissionProject(robotProject, permProject string) error {
	if robotProject != "" {
		if permProject != robotProject {
			return errdefs.Invalid("a robot of project %q may only have permissions on %q, not on %q; use a system robot for several projects",
				robotProject, robotProject, permProject)
		}
		return nil
	}
	if permProject == "*" {
		return nil
	}
	return validProjectName(permProject)
}

// robotPermissionActions checks and normalises the actions of p.
func robotPermissionActions(p meta.RobotPermission, allowed []Action) ([]string, error) {
	if len(p.Actions) == 0 {
		return nil, errdefs.Invalid("the permission on project %q lists no actions; give some of %s", p.Project, joinActions(RobotActions))
	}
	var set []Action
	for _, s := range p.Actions {
		a, err := ParseAction(s)
		if err != nil || !slices.Contains(RobotActions, a) {
			return nil, errdefs.Invalid("a robot cannot be given %q: robots may only have %s", s, joinActions(RobotActions))
		}
		if allowed != nil && !slices.Contains(allowed, a) {
			return nil, errdefs.Denied("you may not give a robot %q on project %q: you cannot %s there yourself", a, p.Project, a)
		}
		if !slices.Contains(set, a) {
			set = append(set, a)
		}
	}
	acts := make([]string, 0, len(set))
	for _, a := range ordered(set) {
		acts = append(acts, string(a))
	}
	return acts, nil
}

// checkRepositoryPatterns checks the repository patterns of p.
func checkRepositoryPatterns(p meta.RobotPermission) ([]string, error) {
	if len(p.Repositories) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(p.Repositories))
	for _, pat := range p.Repositories {
		if pat == "" || strings.HasPrefix(pat, "/") {
			return nil, errdefs.Invalid("invalid repository pattern %q: patterns are relative to the project, e.g. %q or %q",
				pat, "app/*", "backend")
		}
		if _, err := path.Match(pat, ""); err != nil {
			return nil, errdefs.Invalid("invalid repository pattern %q: %v", pat, err)
		}
		out = append(out, pat)
	}
	return out, nil
}

func joinActions(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
