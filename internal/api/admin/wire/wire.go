// Package wire defines the JSON bodies of Berth's admin API (/api/v1): what
// the server (package api/admin) writes and reads and what the Go client
// (package client) sends and decodes. Field names are snake_case; times are
// RFC 3339 strings in UTC, omitted when unknown or never. Secrets appear only
// in the responses that create or regenerate them.
//
// The package is a leaf: it imports nothing from Berth, so the CLI can use it
// without the server's packages.
package wire

import "time"

// Time formats t as the API sends times: RFC 3339 in UTC, "" for the zero
// time.
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ParseTime parses an API time; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}

// Error is one entry of an error response.
type Error struct {
	// Code is a stable identifier: UNAUTHORIZED, DENIED, NOT_FOUND,
	// ALREADY_EXISTS, CONFLICT, INVALID, TOO_LARGE, TOO_MANY_REQUESTS,
	// UNSUPPORTED, UNAVAILABLE or INTERNAL.
	Code string `json:"code"`
	// Message says what went wrong and, where it can, what to do.
	Message string `json:"message"`
}

// Errors is the body of every error response.
type Errors struct {
	Errors []Error `json:"errors"`
}

// ProjectRole is a role the caller holds in a project.
type ProjectRole struct {
	Project string `json:"project"`
	Role    string `json:"role"`
}

// Me is the body of GET /api/v1/me: who the caller is.
type Me struct {
	// Kind is "user" or "robot".
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	SysAdmin bool     `json:"sys_admin"`
	Groups   []string `json:"groups,omitempty"`
	// Projects are a user's roles, by project name (a project may appear
	// once per role held through the user or a group).
	Projects []ProjectRole `json:"projects,omitempty"`
	// Permissions are a robot's permissions.
	Permissions []Permission `json:"permissions,omitempty"`
	ExpiresAt   string       `json:"expires_at,omitempty"`
}

// User is a user account as the API shows it (never its password).
type User struct {
	Name     string `json:"name"`
	Email    string `json:"email,omitempty"`
	SysAdmin bool   `json:"sys_admin"`
	Disabled bool   `json:"disabled"`
	// OIDCIssuer is set for users who sign in through OIDC.
	OIDCIssuer  string   `json:"oidc_issuer,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	CreatedAt   string   `json:"created_at,omitempty"`
	UpdatedAt   string   `json:"updated_at,omitempty"`
	LastLoginAt string   `json:"last_login_at,omitempty"`
}

// UserList is the body of GET /api/v1/users.
type UserList struct {
	Users []User `json:"users"`
	// Next is the after= cursor of the next page, "" on the last.
	Next string `json:"next,omitempty"`
}

// NewUser is the body of POST /api/v1/users.
type NewUser struct {
	Name     string `json:"name"`
	Email    string `json:"email,omitempty"`
	Password string `json:"password"`
	SysAdmin bool   `json:"sys_admin,omitempty"`
}

// UserChange is the body of PATCH /api/v1/users/{name}; absent fields are
// left as they are.
type UserChange struct {
	Email    *string `json:"email,omitempty"`
	Password *string `json:"password,omitempty"`
	SysAdmin *bool   `json:"sys_admin,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// Secret is the body of the responses that generate a secret (a user's CLI
// secret, a robot's secret). It is shown once.
type Secret struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// Project is a project.
type Project struct {
	Name      string `json:"name"`
	Public    bool   `json:"public"`
	CreatedAt string `json:"created_at,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
}

// ProjectList is the body of GET /api/v1/projects.
type ProjectList struct {
	Projects []Project `json:"projects"`
	// Next is the after= cursor of the next page, "" on the last.
	Next string `json:"next,omitempty"`
}

// NewProject is the body of POST /api/v1/projects.
type NewProject struct {
	Name   string `json:"name"`
	Public bool   `json:"public,omitempty"`
}

// ProjectChange is the body of PATCH /api/v1/projects/{name}.
type ProjectChange struct {
	Public *bool `json:"public,omitempty"`
}

// Member is a project member: a user or a group with a role.
type Member struct {
	// Kind is "user" or "group".
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Role is projectAdmin, maintainer, developer, guest or limitedGuest.
	Role      string `json:"role"`
	CreatedAt string `json:"created_at,omitempty"`
}

// MemberList is the body of GET /api/v1/projects/{name}/members.
type MemberList struct {
	Members []Member `json:"members"`
}

// Permission lets a robot take Actions on the repositories of Project ("*":
// every project, system robots only) matching one of Repositories
// (path.Match patterns relative to the project; none: all of them).
type Permission struct {
	Project      string   `json:"project"`
	Repositories []string `json:"repositories,omitempty"`
	Actions      []string `json:"actions"`
}

// Robot is a robot account as the API shows it (never its secret).
type Robot struct {
	// Name is the full account name: robot$<project>+<name> or
	// robot$<name>.
	Name string `json:"name"`
	// Project is the owning project, "" for a system robot.
	Project     string       `json:"project,omitempty"`
	Description string       `json:"description,omitempty"`
	Permissions []Permission `json:"permissions"`
	ExpiresAt   string       `json:"expires_at,omitempty"`
	Disabled    bool         `json:"disabled"`
	CreatedAt   string       `json:"created_at,omitempty"`
	CreatedBy   string       `json:"created_by,omitempty"`
	LastUsedAt  string       `json:"last_used_at,omitempty"`
}

// RobotList is the body of the robot listings.
type RobotList struct {
	Robots []Robot `json:"robots"`
}

// NewRobot is the body of POST /api/v1/robots (a system robot) and POST
// /api/v1/projects/{name}/robots (a project robot).
type NewRobot struct {
	// Name is the short name; the server builds the account name.
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Permissions []Permission `json:"permissions"`
	// ExpiresAt is when the robot stops working; "" for never.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// CreatedRobot is the response to a robot's creation: the robot and its
// secret, shown once.
type CreatedRobot struct {
	Robot
	Secret string `json:"secret"`
}

// RobotChange is the body of PATCH /api/v1/robots/{robotname}; absent fields
// are left as they are. ExpiresAt "" (present) means never.
type RobotChange struct {
	Description *string       `json:"description,omitempty"`
	Permissions *[]Permission `json:"permissions,omitempty"`
	ExpiresAt   *string       `json:"expires_at,omitempty"`
	Disabled    *bool         `json:"disabled,omitempty"`
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	ID int64  `json:"id"`
	At string `json:"at"`
	// ActorKind is "user", "robot", "anonymous" or "system".
	ActorKind string `json:"actor_kind"`
	Actor     string `json:"actor,omitempty"`
	Remote    string `json:"remote,omitempty"`
	Action    string `json:"action"`
	Project   string `json:"project,omitempty"`
	Resource  string `json:"resource,omitempty"`
	// Outcome is "success", "failure" or "denied".
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// AuditList is the body of GET /api/v1/audit.
type AuditList struct {
	Events []AuditEvent `json:"events"`
	// Next is the before= cursor of the next (older) page, "" on the last.
	Next string `json:"next,omitempty"`
}
