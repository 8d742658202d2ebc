// Package authn authenticates and authorizes HTTP requests: the Guard that
// admits every /v2 request (it implements oci.Guard) and resolves the
// principal of /api/v1 requests.
//
// A request carries no credentials (anonymous), HTTP Basic (a password,
// a CLI secret, a robot secret or a workload JWT, checked by
// auth.Authenticator.Password) or a registry token (Bearer, from the token
// endpoint). What a caller may do is decided by access.Service for the first
// two and by the token's access claims alone for the third, so a token never
// grants more than it says, and a revoked account's tokens die with their
// short lifetime.
//
// Refusals follow the Docker token protocol: a caller who could get further
// with a (better) token is sent 401 and a WWW-Authenticate Bearer challenge
// naming the token endpoint and the scope to ask for; a signed-in caller who
// may not is sent 403 DENIED. Whether the repository exists never changes
// the answer.
package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/errcode"
	"github.com/berth-registry/berth/internal/api/oci"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// Options configure a Guard.
type Options struct {
	// Realm is the absolute URL of the token endpoint sent in challenges;
	// "" derives it per request from the Host (and X-Forwarded-Proto and
	// X-Forwarded-Host only if TrustProxy) plus "/auth/token".
	Realm string
	// TrustProxy trusts the X-Forwarded-* headers of requests: set it only
	// behind a reverse proxy that sets them (and strips clients' own).
	TrustProxy bool
	// Auth checks credentials.
	Auth *auth.Authenticator
	// Tokens is the token service; its Service() is the service= of
	// challenges.
	Tokens *auth.TokenService
	// Access decides what password and anonymous callers may do.
	Access *access.Service
	// Audit records refusals and failed logins; nil records nothing.
	Audit func(ctx context.Context, e meta.AuditEvent)
}

// Guard authenticates and authorizes requests. It is safe for concurrent
// use.
type Guard struct {
	opts Options
}

var _ oci.Guard = (*Guard)(nil)

// New returns a Guard. Auth, Tokens and Access are required.
func New(opts Options) *Guard {
	return &Guard{opts: opts}
}

// retryAfter is what a rate-limited caller is told to wait, in seconds.
// The limiter does not say how long its window still runs; a minute is
// short enough not to lock out a user who typed a password wrong, long
// enough to make guessing slow.
const retryAfter = "60"

// Principal authenticates r: no Authorization header is the anonymous
// caller; Basic is checked by Auth.Password; Bearer by Auth.Bearer. It
// returns the principal and the Grants that answer for it. Bad credentials
// are an error of class errdefs.ErrUnauthenticated; a rate-limited caller
// one of class errdefs.ErrTooManyRequests.
func (g *Guard) Principal(r *http.Request) (access.Principal, access.Grants, error) {
	ctx := r.Context()
	h := r.Header.Get("Authorization")
	if h == "" {
		return access.AnonymousPrincipal, &serviceGrants{svc: g.opts.Access, p: access.AnonymousPrincipal}, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		user, pw, ok := r.BasicAuth()
		if !ok {
			return access.Principal{}, nil, errdefs.Unauthenticated("malformed Basic credentials")
		}
		if user == "" && pw == "" {
			// Some clients send empty credentials when they have none:
			// that is the anonymous caller, not a failed login.
			return access.AnonymousPrincipal, &serviceGrants{svc: g.opts.Access, p: access.AnonymousPrincipal}, nil
		}
		p, err := g.opts.Auth.Password(ctx, user, pw, ClientAddr(r, g.opts.TrustProxy))
		if err != nil {
			return access.Principal{}, nil, err
		}
		return p, &serviceGrants{svc: g.opts.Access, p: p}, nil
	case strings.EqualFold(scheme, "Bearer"):
		p, claims, err := g.opts.Auth.Bearer(ctx, strings.TrimSpace(cred))
		if err != nil {
			return access.Principal{}, nil, err
		}
		return p, &tokenGrants{access: claims, p: p, g: g}, nil
	}
	return access.Principal{}, nil, errdefs.Unauthenticated("unsupported authorization scheme %q; use Basic or Bearer", scheme)
}

// Admit implements oci.Guard: it authenticates r, then checks need. The
// returned request carries the principal and grants in its context and,
// when TrustProxy, the client's address (X-Forwarded-For) as RemoteAddr.
func (g *Guard) Admit(w http.ResponseWriter, r *http.Request, need oci.Need) (*http.Request, error) {
	if g.opts.TrustProxy {
		if addr := forwardedFor(r); addr != "" {
			r = r.WithContext(r.Context()) // a shallow copy to change
			r.RemoteAddr = addr
		}
	}
	p, grants, err := g.Principal(r)
	if err != nil {
		return nil, g.refuseCredentials(w, r, need, err)
	}
	r = r.WithContext(access.WithGrants(access.WithPrincipal(r.Context(), p), grants))
	ctx := r.Context()
	_, bearer := grants.(*tokenGrants)
	switch {
	case need.Catalog:
		if p.IsAnonymous() || (bearer && !grants.(*tokenGrants).catalog()) {
			return nil, g.refuse(w, r, need, p, bearer, "catalog")
		}
		return r, nil
	case need.Repository == "":
		// The base check: clients learn here whether and where to get a
		// token, so the anonymous caller is challenged even when public
		// projects exist.
		if p.IsAnonymous() && !bearer {
			g.challenge(w, r, need, "")
			return nil, errcode.Newf(errcode.Unauthorized, "authentication required")
		}
		return r, nil
	}
	if allowedAll(ctx, grants, need.Repository, need.Actions) {
		return r, nil
	}
	return nil, g.refuse(w, r, need, p, bearer, need.Repository)
}

// allowedAll reports whether grants allow every action of actions on repo.
// List is also satisfied by Pull. A push is asked first: for a password
// caller it may create the project (auto-create), after which the other
// actions are decided on the new project.
func allowedAll(ctx context.Context, grants access.Grants, repo string, actions []access.Action) bool {
	if sg, ok := grants.(*serviceGrants); ok {
		return sg.allowedAll(ctx, repo, actions)
	}
	for _, a := range actions {
		if !grants.Allowed(ctx, repo, a) && (a != access.List || !grants.Allowed(ctx, repo, access.Pull)) {
			return false
		}
	}
	return true
}

// refuseCredentials answers credentials that did not authenticate.
func (g *Guard) refuseCredentials(w http.ResponseWriter, r *http.Request, need oci.Need, err error) error {
	user, _, basic := r.BasicAuth()
	ev := meta.AuditEvent{Action: "access.denied", Outcome: "denied", Detail: "invalid token"}
	if basic {
		ev = meta.AuditEvent{ActorKind: string(access.UserKind), Actor: user, Action: "login", Outcome: "failure",
			Detail: "Basic credentials on /v2"}
		if strings.HasPrefix(user, "robot$") {
			ev.ActorKind = string(access.RobotKind)
		}
	}
	ev.Resource = need.Repository
	ev.Project = access.ProjectOf(need.Repository)
	if errors.Is(err, errdefs.ErrTooManyRequests) {
		ev.Detail += ": too many failed attempts"
		g.record(r, ev)
		w.Header().Set("Retry-After", retryAfter)
		return errcode.New(errcode.TooManyRequests, err)
	}
	g.record(r, ev)
	if errors.Is(err, errdefs.ErrUnauthenticated) {
		errParam := "invalid_token"
		if basic {
			errParam = ""
		}
		g.challenge(w, r, need, errParam)
		return errcode.New(errcode.Unauthorized, err)
	}
	// The credential check itself failed (database down): not the
	// caller's fault, no challenge.
	return fmt.Errorf("authenticate: %w", err)
}

// refuse answers an authenticated caller who may not do what need says:
// 401 with a challenge when a (better) token could help, else 403.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, need oci.Need, p access.Principal, bearer bool, what string) error {
	// An anonymous request refused with a challenge is how every client
	// starts a pull or push (it then comes back with a token); recording
	// each would bury the real refusals.
	if !p.IsAnonymous() || bearer {
		g.record(r, meta.AuditEvent{
			ActorKind: string(p.Kind),
			Actor:     p.Name,
			Action:    "access.denied",
			Project:   access.ProjectOf(need.Repository),
			Resource:  what,
			Outcome:   "denied",
			Detail:    r.Method + " " + r.URL.Path + " needs " + scope(need),
		})
	}
	switch {
	// The messages name nothing: whether the repository exists must not
	// show. The challenge says which scope to ask for.
	case bearer:
		g.challenge(w, r, need, "insufficient_scope")
		return errcode.Newf(errcode.Unauthorized, "the token does not grant the access this request needs; ask for the challenge's scope")
	case p.IsAnonymous():
		g.challenge(w, r, need, "")
		return errcode.Newf(errcode.Unauthorized, "authentication required")
	}
	return errcode.Newf(errcode.Denied, "requested access to the resource is denied")
}

// record sends e to the audit log with the request's time and address.
func (g *Guard) record(r *http.Request, e meta.AuditEvent) {
	if g.opts.Audit == nil {
		return
	}
	e.At = time.Now().UTC()
	e.Remote = ClientAddr(r, g.opts.TrustProxy)
	if e.ActorKind == "" {
		e.ActorKind = string(access.Anonymous)
	}
	g.opts.Audit(r.Context(), e)
}

// Visible implements oci.Guard: the catalog filter of r's principal. A
// token holder's account is looked up afresh (a token names only its
// subject), so a revoked account sees nothing.
func (g *Guard) Visible(r *http.Request) func(repo string) bool {
	ctx := r.Context()
	p := access.PrincipalFrom(ctx)
	if _, bearer := access.GrantsFrom(ctx).(*tokenGrants); bearer && !p.IsAnonymous() {
		full, err := g.opts.Auth.Lookup(ctx, p.Kind, p.Name)
		if err != nil {
			return func(string) bool { return false }
		}
		p = full
	}
	return g.opts.Access.RepoFilter(ctx, p)
}

// Caller is Principal for the admin API: a registry token's subject is
// looked up as it is now (system administrator flag, groups, a robot's
// permissions), since a token's access claims say nothing about
// management and admin requests are few enough to afford the lookup.
func (g *Guard) Caller(r *http.Request) (access.Principal, access.Grants, error) {
	p, grants, err := g.Principal(r)
	if err != nil {
		return p, grants, err
	}
	if _, ok := grants.(*tokenGrants); ok && !p.IsAnonymous() {
		full, err := g.opts.Auth.Lookup(r.Context(), p.Kind, p.Name)
		if err != nil {
			return access.Principal{}, nil, err
		}
		return full, &serviceGrants{svc: g.opts.Access, p: full}, nil
	}
	return p, grants, nil
}

// CanMountFrom reports whether the caller of ctx (as the Guard admitted it)
// may pull from repository repo, the source of a cross-repository mount.
// It is meant for registry.Options.CanMountFrom; a context without grants
// may mount from nowhere.
func CanMountFrom(ctx context.Context, repo string) bool {
	g := access.GrantsFrom(ctx)
	if g.Allowed(ctx, repo, access.Pull) {
		return true
	}
	tg, ok := g.(*tokenGrants)
	return ok && tg.mayMountFrom(ctx, repo)
}
