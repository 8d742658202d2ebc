package meta

import (
	"context"
	"time"
)

// User is a person who signs in: a local account (PasswordHash set) or one
// that signs in through OIDC (Issuer and Subject set).
type User struct {
	ID    int64
	Name  string
	Email string
	// PasswordHash is the PHC string of the password (argon2id), or "" for
	// an account without a local password.
	PasswordHash string
	// SysAdmin grants every permission on every project and the admin API.
	SysAdmin bool
	// Issuer and Subject identify an OIDC user ("" for local accounts); the
	// pair is unique.
	Issuer  string
	Subject string
	// Groups are the groups the identity provider last said the user is in
	// (OIDC), matched against group members of projects.
	Groups []string
	// CLISecretHash is the hash of the user's CLI secret (a password for
	// docker login and the CLI that outlives the browser session), or "".
	CLISecretHash string
	Disabled      bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// LastLoginAt is the last successful sign-in (zero if never).
	LastLoginAt time.Time
}

// Project is a namespace: the first path component of its repositories'
// names.
type Project struct {
	ID   int64
	Name string
	// Public projects may be pulled (and their repositories listed) by
	// anyone, anonymous callers included.
	Public    bool
	CreatedAt time.Time
	// CreatedBy names who created it ("" for the system).
	CreatedBy string
}

// MemberKind says whether a project member is a user or a group.
type MemberKind string

const (
	// MemberUser is a user, named by User.Name.
	MemberUser MemberKind = "user"
	// MemberGroup is a group as the identity provider names it.
	MemberGroup MemberKind = "group"
)

// Member grants Role on a project to a user or a group. Role is one of the
// role names of package access.
type Member struct {
	ProjectID int64
	Kind      MemberKind
	Name      string
	Role      string
	CreatedAt time.Time
}

// ProjectRole is a role held in a project, as returned by RolesOf.
type ProjectRole struct {
	ProjectID int64
	Project   string
	Role      string
}

// RobotPermission lets a robot take Actions (names of package access
// actions) on the repositories of Project ("*" for every project, system
// robots only) that match one of Repositories (path.Match patterns relative
// to the project; empty means all of them).
type RobotPermission struct {
	Project      string   `json:"project"`
	Repositories []string `json:"repositories,omitempty"`
	Actions      []string `json:"actions"`
}

// Robot is a machine account for CI or for cluster pull secrets.
type Robot struct {
	ID int64
	// Name is the full account name: "robot$<project>+<name>" for a
	// project robot, "robot$<name>" for a system robot. Unique.
	Name string
	// ProjectID is the owning project, or 0 for a system robot.
	ProjectID   int64
	Description string
	// SecretHash is the hash of the secret (shown to the creator once).
	SecretHash  string
	Permissions []RobotPermission
	// ExpiresAt is when the robot stops working (zero: never).
	ExpiresAt time.Time
	Disabled  bool
	CreatedAt time.Time
	CreatedBy string
	// LastUsedAt is the last successful authentication (zero if never).
	LastUsedAt time.Time
}

// SigningKey is a key the token service signs registry tokens with. Every
// replica reads the same keys, so a token issued by one verifies on all.
type SigningKey struct {
	// ID is the key id (the JWT "kid").
	ID string
	// Algorithm is the JWS algorithm, e.g. "ES256".
	Algorithm string
	// Private is the private key, PKCS #8 DER.
	Private   []byte
	CreatedAt time.Time
	// RetiredAt is when it stopped signing (zero while it is the current
	// key). A retired key still verifies until it is deleted.
	RetiredAt time.Time
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	ID int64
	At time.Time
	// ActorKind is "user", "robot", "anonymous" or "system".
	ActorKind string
	Actor     string
	// Remote is the client address.
	Remote string
	// Action names what was done, e.g. "artifact.push", "login".
	Action string
	// Project is the project concerned, or "".
	Project string
	// Resource names the object acted on (a repository reference, a user,
	// a robot).
	Resource string
	// Outcome is "success", "failure" or "denied".
	Outcome string
	// Detail is free text (a reason, the previous digest of a moved tag).
	Detail string
}

// AuditFilter selects audit events; empty fields select everything. Events
// come newest first.
type AuditFilter struct {
	Actor    string
	Action   string
	Project  string
	Outcome  string
	Resource string // prefix match
	Since    time.Time
	Until    time.Time
	// BeforeID pages: only events with a smaller ID (0: from the newest).
	BeforeID int64
	Limit    int
}

// Users stores user accounts.
type Users interface {
	// CreateUser stores u and sets u.ID; ErrAlreadyExists if the name (or
	// the issuer and subject) is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user called name or ErrNotFound.
	GetUser(ctx context.Context, name string) (*User, error)
	// GetUserBySubject returns the OIDC user of issuer and subject or
	// ErrNotFound.
	GetUserBySubject(ctx context.Context, issuer, subject string) (*User, error)
	// UpdateUser stores every field of u (by u.ID) but ID, Name and
	// CreatedAt; ErrNotFound if absent.
	UpdateUser(ctx context.Context, u *User) error
	// TouchUser sets the last sign-in time of user id to at, if later
	// (and changes nothing else, so it cannot undo a concurrent update). A
	// user that no longer exists is not an error.
	TouchUser(ctx context.Context, id int64, at time.Time) error
	// DeleteUser removes the user and its memberships; ErrNotFound if
	// absent.
	DeleteUser(ctx context.Context, name string) error
	// ListUsers returns up to limit users in name order after `after`.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
}

// Projects stores projects and their members.
type Projects interface {
	// CreateProject stores p and sets p.ID; ErrAlreadyExists if the name
	// is taken.
	CreateProject(ctx context.Context, p *Project) error
	// GetProject returns the project called name or ErrNotFound.
	GetProject(ctx context.Context, name string) (*Project, error)
	// UpdateProject stores p.Public (by p.ID); ErrNotFound if absent.
	UpdateProject(ctx context.Context, p *Project) error
	// DeleteProject removes the project, its members and its robots;
	// ErrNotFound if absent, ErrConflict while a repository of the
	// project holds a manifest.
	DeleteProject(ctx context.Context, name string) error
	// ListProjects returns up to limit projects in name order after `after`.
	ListProjects(ctx context.Context, after string, limit int) ([]Project, error)
	// PutMember grants m.Role to the member (replacing a role it held);
	// ErrNotFound if the project is absent.
	PutMember(ctx context.Context, m Member) error
	// DeleteMember removes the member; ErrNotFound if absent.
	DeleteMember(ctx context.Context, projectID int64, kind MemberKind, name string) error
	// ListMembers returns the members of the project, users then groups,
	// in name order.
	ListMembers(ctx context.Context, projectID int64) ([]Member, error)
	// RolesOf returns the roles held by user (directly) or by any of
	// groups, in every project, ordered by project name (a project may
	// appear more than once).
	RolesOf(ctx context.Context, user string, groups []string) ([]ProjectRole, error)
}

// Robots stores robot accounts.
type Robots interface {
	// CreateRobot stores r and sets r.ID; ErrAlreadyExists if the name is
	// taken.
	CreateRobot(ctx context.Context, r *Robot) error
	// GetRobot returns the robot called name or ErrNotFound.
	GetRobot(ctx context.Context, name string) (*Robot, error)
	// UpdateRobot stores Description, SecretHash, Permissions, ExpiresAt
	// and Disabled of r (by r.ID); ErrNotFound if absent.
	UpdateRobot(ctx context.Context, r *Robot) error
	// TouchRobot sets the last-used time of robot id to at, if later.
	TouchRobot(ctx context.Context, id int64, at time.Time) error
	// DeleteRobot removes the robot; ErrNotFound if absent.
	DeleteRobot(ctx context.Context, name string) error
	// ListRobots returns the robots of the project (0: system robots;
	// -1: every robot) in name order.
	ListRobots(ctx context.Context, projectID int64) ([]Robot, error)
}

// SigningKeys stores the token service's keys.
type SigningKeys interface {
	// PutSigningKey stores k; ErrAlreadyExists if the id is taken.
	PutSigningKey(ctx context.Context, k SigningKey) error
	// RetireSigningKey sets the retirement time of key id (if not set).
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
	// DeleteSigningKey removes key id; ErrNotFound if absent.
	DeleteSigningKey(ctx context.Context, id string) error
	// ListSigningKeys returns every key, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
}

// Audit stores the audit log.
type Audit interface {
	// AppendAudit stores events (their IDs are assigned in order).
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// ListAudit returns the events f selects, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// PruneAudit deletes events older than before and returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}

// AccessQuerier is every access-control primitive of a store.
type AccessQuerier interface {
	Users
	Projects
	Robots
	SigningKeys
	Audit
}
