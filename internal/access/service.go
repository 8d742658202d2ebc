package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// AutoCreate says whose push to a project name that does not exist yet
// creates the project.
type AutoCreate string

// The auto-create policies.
const (
	// AutoCreateNone never creates a project on push: projects are made
	// through the admin API only.
	AutoCreateNone AutoCreate = "none"
	// AutoCreateAdmins lets system administrators create a project by
	// pushing to it (the default).
	AutoCreateAdmins AutoCreate = "admins"
	// AutoCreateUsers lets any signed-in user create a project by pushing
	// to it (and through the admin API); the user becomes its project
	// admin. Robots never create projects.
	AutoCreateUsers AutoCreate = "users"
)

// factsTTL is how long the facts of a (project, principal) pair are reused.
const factsTTL = 2 * time.Second

// Options configures a Service. The zero value is usable.
type Options struct {
	// AutoCreate says whose push creates a missing project. Empty means
	// AutoCreateAdmins; an unknown value means AutoCreateNone.
	AutoCreate AutoCreate
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives the few lines the service logs. Nil discards them.
	Logger *slog.Logger
	// Audit records management actions (and projects created by push).
	// Nil records nothing. It must not block for long: it runs on the
	// request.
	Audit func(ctx context.Context, e meta.AuditEvent)
}

// Service manages users, projects, members and robots and answers the
// registry's authorization questions. Every management method checks its
// actor through Decide and records an audit event. It is safe for
// concurrent use.
type Service struct {
	store meta.Store
	auto  AutoCreate
	now   func() time.Time
	log   *slog.Logger
	audit func(ctx context.Context, e meta.AuditEvent)
	cache *factsCache
}

// NewService returns a Service over store.
func NewService(store meta.Store, opts Options) *Service {
	s := &Service{store: store, auto: opts.AutoCreate, now: opts.Now, log: opts.Logger, audit: opts.Audit}
	switch s.auto {
	case "":
		s.auto = AutoCreateAdmins
	case AutoCreateNone, AutoCreateAdmins, AutoCreateUsers:
	default:
		s.auto = AutoCreateNone
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.cache = newFactsCache(factsTTL)
	return s
}

// UserPrincipal returns the principal of a signed-in user.
func UserPrincipal(u *meta.User) Principal {
	return Principal{Kind: UserKind, Name: u.Name, SysAdmin: u.SysAdmin, Groups: u.Groups}
}

// RobotPrincipal returns the principal of an authenticated robot.
func RobotPrincipal(r *meta.Robot) Principal {
	return Principal{Kind: RobotKind, Name: r.Name, Permissions: r.Permissions,
		ProjectID: r.ProjectID, ExpiresAt: r.ExpiresAt}
}

// Expired reports whether p is a robot whose expiry has passed at now.
// An expired robot may do nothing, whatever its permissions say.
func (p Principal) Expired(now time.Time) bool {
	return p.Kind == RobotKind && !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt)
}

// isSysAdmin reports whether p may do system-level things.
func isSysAdmin(p Principal) bool {
	return p.Kind == System || (p.Kind == UserKind && p.SysAdmin)
}

// decide is Decide, with an expired robot allowed nothing.
func (s *Service) decide(p Principal, facts ProjectFacts, repo string) []Action {
	if p.Expired(s.now()) {
		return nil
	}
	return Decide(p, facts, repo)
}

// hiddenError is returned when the actor may not even see the project: it
// is of class ErrNotFound for the caller, and audited as a denial.
type hiddenError struct{ msg string }

func (e *hiddenError) Error() string { return e.msg }
func (e *hiddenError) Unwrap() error { return errdefs.ErrNotFound }

// projectFor loads the facts of project for actor and checks that actor may
// take action on it. It returns ErrNotFound if the project does not exist
// or actor may not see it, ErrDenied if actor sees it but may not act.
// Management reads fresh facts, never cached ones: a role just taken away
// stops working at once.
func (s *Service) projectFor(ctx context.Context, actor Principal, project string, action Action) (ProjectFacts, error) {
	facts, err := s.queryFacts(ctx, actor, project)
	if err != nil {
		return ProjectFacts{}, err
	}
	granted := s.decide(actor, facts, "")
	if facts.Project == nil || len(granted) == 0 {
		return ProjectFacts{}, &hiddenError{msg: fmt.Sprintf("project %q not found", project)}
	}
	if !Has(granted, action) {
		return ProjectFacts{}, errdefs.Denied("%s may not %s in project %q; ask a project admin for a role that allows it",
			actor, action, project)
	}
	return facts, nil
}

// errHidden reports whether err hides a project from its actor.
func errHidden(err error) bool {
	var h *hiddenError
	return errors.As(err, &h)
}

// requireSysAdmin returns ErrDenied unless actor is a system administrator.
func requireSysAdmin(actor Principal, what string) error {
	if isSysAdmin(actor) {
		return nil
	}
	return errdefs.Denied("only a system administrator may %s", what)
}

// record sends an audit event for a management action whose result is
// *errp; outcome is success, denied (ErrDenied or a hidden project) or
// failure. Call it deferred.
func (s *Service) record(ctx context.Context, actor Principal, action, project, resource string, errp *error) {
	if s.audit == nil {
		return
	}
	e := meta.AuditEvent{
		At:        s.now(),
		ActorKind: string(actor.Kind),
		Actor:     actor.Name,
		Action:    action,
		Project:   project,
		Resource:  resource,
		Outcome:   "success",
	}
	if actor.IsAnonymous() {
		e.ActorKind, e.Actor = string(Anonymous), ""
	}
	if err := *errp; err != nil {
		e.Outcome = "failure"
		if errdefs.IsDenied(err) || errHidden(err) {
			e.Outcome = "denied"
		}
		e.Detail = err.Error()
	}
	s.audit(ctx, e)
}

// changed forgets cached facts after a management write.
func (s *Service) changed() { s.cache.clear() }
