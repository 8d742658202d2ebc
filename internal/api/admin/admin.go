// Package admin serves Berth's admin API under /api/v1: JSON resources for
// the caller (me), users, projects and their members, robot accounts, tag
// immutability rules and the audit log, and the OpenAPI 3.1 document that
// describes them
// (/api/v1/openapi.json, kept as a golden file in testdata).
//
// Handlers parse the request, call access.Service (which checks every
// permission itself) or the audit recorder, and write the result; they hold
// no SQL and no authorization rules (the immutability routes ask
// access.Service whether the caller holds manage-policies, and store rules
// through meta.ImmutabilityStore). Every route but the OpenAPI document
// needs a signed-in caller: an anonymous request gets 401 with a Basic
// challenge. Errors are sent as
//
//	{"errors":[{"code":"NOT_FOUND","message":"..."}]}
//
// with the status of the error's errdefs class. Request bodies are limited to
// 1 MiB.
package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/authn"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/retention/run"
)

// Prefix is where the handler expects to be mounted.
const Prefix = "/api/v1/"

// maxBody is the largest request body the API reads.
const maxBody = 1 << 20

// Authenticator resolves the caller of a request; *authn.Guard is one.
type Authenticator interface {
	// Principal authenticates r; no credentials means the anonymous
	// principal. Bad credentials are errdefs.ErrUnauthenticated, a rate
	// limit errdefs.ErrTooManyRequests.
	Principal(r *http.Request) (access.Principal, access.Grants, error)
}

// RoleLister tells the roles a user holds (meta.Store is one); it serves
// GET /api/v1/me and the projects whose audit log a user may read.
type RoleLister interface {
	RolesOf(ctx context.Context, user string, groups []string) ([]meta.ProjectRole, error)
}

// Options configures the handler. Access, Guard and Roles are required.
type Options struct {
	// Access manages users, projects, members and robots and decides who
	// may.
	Access *access.Service
	// Guard resolves each request's caller.
	Guard Authenticator
	// Roles lists a user's project roles (pass the meta.Store).
	Roles RoleLister
	// Audit serves the audit routes; nil answers them with 503.
	Audit *audit.Recorder
	// Immutability stores tag immutability rules; nil finds them in Roles
	// when it is a meta.Store (meta.ImmutabilityOf), else the immutability
	// routes answer 503.
	Immutability meta.ImmutabilityStore
	// Promoter serves POST /api/v1/promotions (pass the registry.Service);
	// nil answers it with 503. Listings read the records from Roles when
	// it is a meta.Store (meta.PromotionOf).
	Promoter Promoter
	// Retention serves the retention routes; nil builds one on Roles when
	// it is a meta.Store with a meta.RetentionStore (defaults, never
	// closed: for tests), else the retention routes answer 503.
	Retention *run.Service
	// Scanner serves the scan and SBOM routes and is told about scan
	// policy and allowlist changes; nil answers the scan and SBOM routes
	// with 503 (policies and allowlists need only Roles as a meta.Store
	// with a meta.ScanStore).
	Scanner Scanner
	// TrustProxy takes the client address for audit events from
	// X-Forwarded-For (set it only behind a proxy that sets the header).
	TrustProxy bool
}

// Handler serves /api/v1/.
type Handler struct {
	opts Options
	mux  *http.ServeMux
	// methods are the methods some route uses, to tell 405 from 404.
	methods []string
}

// New returns the admin API handler, to be mounted at Prefix.
func New(opts Options) *Handler {
	if s, ok := opts.Roles.(meta.Store); ok && opts.Retention == nil {
		opts.Retention, _ = run.New(run.Config{Store: s})
	}
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	for _, rt := range h.routes() {
		h.mux.Handle(rt.method+" "+rt.path, h.wrap(rt))
		if !slices.Contains(h.methods, rt.method) {
			h.methods = append(h.methods, rt.method)
		}
	}
	return h
}

// ServeHTTP routes r; a path no route serves gets 404, a method the path
// does not take 405 with Allow, both as JSON errors.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	api.SetRoute(r.Context(), "admin.unknown", "")
	var allow []string
	for _, m := range h.methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		h.writeError(w, r, errdefs.NotFound("no such API resource %s", r.URL.Path))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	h.writeStatus(w, r, http.StatusMethodNotAllowed, "UNSUPPORTED",
		r.Method+" is not allowed here (allowed: "+strings.Join(allow, ", ")+")")
}

// route is one operation of the API.
type route struct {
	method, path string
	// name labels the route in metrics and logs.
	name string
	// public routes need no credentials.
	public bool
	fn     func(w http.ResponseWriter, r *http.Request, p access.Principal) error
}

// routes lists every route the handler serves; openapi.go describes them.
func (h *Handler) routes() []route {
	return []route{
		{method: "GET", path: "/api/v1/openapi.json", name: "openapi", public: true, fn: h.openAPI},
		{method: "GET", path: "/api/v1/me", name: "me", fn: h.me},

		{method: "GET", path: "/api/v1/users", name: "users.list", fn: h.listUsers},
		{method: "POST", path: "/api/v1/users", name: "users.create", fn: h.createUser},
		{method: "GET", path: "/api/v1/users/{name}", name: "users.get", fn: h.getUser},
		{method: "PATCH", path: "/api/v1/users/{name}", name: "users.update", fn: h.updateUser},
		{method: "DELETE", path: "/api/v1/users/{name}", name: "users.delete", fn: h.deleteUser},
		{method: "POST", path: "/api/v1/users/{name}/cli-secret", name: "users.cli-secret", fn: h.resetCLISecret},

		{method: "GET", path: "/api/v1/projects", name: "projects.list", fn: h.listProjects},
		{method: "POST", path: "/api/v1/projects", name: "projects.create", fn: h.createProject},
		{method: "GET", path: "/api/v1/projects/{name}", name: "projects.get", fn: h.getProject},
		{method: "PATCH", path: "/api/v1/projects/{name}", name: "projects.update", fn: h.updateProject},
		{method: "DELETE", path: "/api/v1/projects/{name}", name: "projects.delete", fn: h.deleteProject},
		{method: "GET", path: "/api/v1/projects/{name}/members", name: "members.list", fn: h.listMembers},
		{method: "PUT", path: "/api/v1/projects/{name}/members", name: "members.put", fn: h.putMember},
		{method: "DELETE", path: "/api/v1/projects/{name}/members/{kind}/{member}", name: "members.delete", fn: h.deleteMember},

		{method: "GET", path: "/api/v1/robots", name: "robots.list-system", fn: h.listSystemRobots},
		{method: "POST", path: "/api/v1/robots", name: "robots.create-system", fn: h.createSystemRobot},
		{method: "GET", path: "/api/v1/projects/{name}/robots", name: "robots.list-project", fn: h.listProjectRobots},
		{method: "POST", path: "/api/v1/projects/{name}/robots", name: "robots.create-project", fn: h.createProjectRobot},
		{method: "GET", path: "/api/v1/robots/{robotname}", name: "robots.get", fn: h.getRobot},
		{method: "PATCH", path: "/api/v1/robots/{robotname}", name: "robots.update", fn: h.updateRobot},
		{method: "DELETE", path: "/api/v1/robots/{robotname}", name: "robots.delete", fn: h.deleteRobot},
		{method: "POST", path: "/api/v1/robots/{robotname}/secret", name: "robots.secret", fn: h.regenerateRobotSecret},

		{method: "GET", path: "/api/v1/promotions", name: "promotions.list", fn: h.listPromotions},
		{method: "POST", path: "/api/v1/promotions", name: "promotions.create", fn: h.createPromotion},

		{method: "GET", path: "/api/v1/immutability", name: "immutability.list-system", fn: h.listSystemImmutability},
		{method: "POST", path: "/api/v1/immutability", name: "immutability.add-system", fn: h.addSystemImmutability},
		{method: "DELETE", path: "/api/v1/immutability/{id}", name: "immutability.remove-system", fn: h.removeSystemImmutability},
		{method: "GET", path: "/api/v1/projects/{name}/immutability", name: "immutability.list-project", fn: h.listProjectImmutability},
		{method: "POST", path: "/api/v1/projects/{name}/immutability", name: "immutability.add-project", fn: h.addProjectImmutability},
		{method: "DELETE", path: "/api/v1/projects/{name}/immutability/{id}", name: "immutability.remove-project", fn: h.removeProjectImmutability},

		{method: "GET", path: "/api/v1/projects/{name}/quota", name: "quota.get", fn: h.getQuota},
		{method: "PUT", path: "/api/v1/projects/{name}/quota", name: "quota.put", fn: h.putQuota},
		{method: "DELETE", path: "/api/v1/projects/{name}/quota", name: "quota.delete", fn: h.deleteQuota},

		{method: "GET", path: "/api/v1/projects/{name}/retention", name: "retention.get", fn: h.getRetention},
		{method: "PUT", path: "/api/v1/projects/{name}/retention", name: "retention.put", fn: h.putRetention},
		{method: "DELETE", path: "/api/v1/projects/{name}/retention", name: "retention.delete", fn: h.deleteRetention},
		{method: "POST", path: "/api/v1/projects/{name}/retention/runs", name: "retention.run", fn: h.startRetentionRun},
		{method: "GET", path: "/api/v1/projects/{name}/retention/runs", name: "retention.runs", fn: h.listRetentionRuns},
		{method: "GET", path: "/api/v1/projects/{name}/retention/runs/{id}", name: "retention.run-get", fn: h.getRetentionRun},
		{method: "GET", path: "/api/v1/projects/{name}/retention/runs/{id}/report", name: "retention.report", fn: h.getRetentionReport},
		{method: "GET", path: "/api/v1/projects/{name}/retention/trash", name: "retention.trash", fn: h.listRetentionTrash},
		{method: "POST", path: "/api/v1/projects/{name}/retention/trash/restore", name: "retention.restore", fn: h.restoreRetentionTrash},

		{method: "POST", path: "/api/v1/scans", name: "scans.request", fn: h.requestScan},
		{method: "GET", path: "/api/v1/scans", name: "scans.get", fn: h.getScan},
		{method: "GET", path: "/api/v1/sboms", name: "sboms.get", fn: h.getSBOM},
		{method: "GET", path: "/api/v1/projects/{name}/scan-policy", name: "scan-policy.get", fn: h.getScanPolicy},
		{method: "PUT", path: "/api/v1/projects/{name}/scan-policy", name: "scan-policy.put", fn: h.putScanPolicy},
		{method: "GET", path: "/api/v1/allowlist", name: "allowlist.list-system", fn: h.listSystemAllowlist},
		{method: "POST", path: "/api/v1/allowlist", name: "allowlist.add-system", fn: h.addSystemAllowlist},
		{method: "DELETE", path: "/api/v1/allowlist/{id}", name: "allowlist.remove-system", fn: h.removeSystemAllowlist},
		{method: "GET", path: "/api/v1/projects/{name}/allowlist", name: "allowlist.list-project", fn: h.listProjectAllowlist},
		{method: "POST", path: "/api/v1/projects/{name}/allowlist", name: "allowlist.add-project", fn: h.addProjectAllowlist},
		{method: "DELETE", path: "/api/v1/projects/{name}/allowlist/{id}", name: "allowlist.remove-project", fn: h.removeProjectAllowlist},

		{method: "GET", path: "/api/v1/audit", name: "audit.list", fn: h.listAudit},
		{method: "GET", path: "/api/v1/audit/export", name: "audit.export", fn: h.exportAudit},
	}
}

// wrap authenticates the caller (unless rt is public), puts the principal
// in the request context and runs rt, writing any error it returns.
func (h *Handler) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.SetRoute(r.Context(), "admin."+rt.name, "")
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		p := access.AnonymousPrincipal
		if !rt.public {
			var grants access.Grants
			var err error
			p, grants, err = h.opts.Guard.Principal(r)
			if err == nil && p.IsAnonymous() {
				err = errdefs.Unauthenticated("sign in to use the admin API")
			}
			if err != nil {
				h.writeError(w, r, err)
				return
			}
			ctx := access.WithGrants(access.WithPrincipal(r.Context(), p), grants)
			if audit.RemoteFrom(ctx) == "" {
				ctx = audit.WithRemote(ctx, authn.ClientAddr(r, h.opts.TrustProxy))
			}
			r = r.WithContext(ctx)
		}
		if err := rt.fn(w, r, p); err != nil {
			h.writeError(w, r, err)
		}
	})
}

// rolesOf returns the project roles of user p.
func (h *Handler) rolesOf(ctx context.Context, p access.Principal) ([]meta.ProjectRole, error) {
	if h.opts.Roles == nil {
		return nil, errdefs.Unavailable("the admin API was set up without Options.Roles (pass the meta.Store)")
	}
	return h.opts.Roles.RolesOf(ctx, p.Name, p.Groups)
}
