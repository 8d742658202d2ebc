package oci

import (
	"net"
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// Need is what a request needs to be admitted.
type Need struct {
	// Repository is the repository the request acts on; "" for the base
	// check (/v2/) and the catalog.
	Repository string
	// Actions are what the route needs, all of them: Pull to read; Push
	// and Pull for uploads and manifest PUT (docker asks for both); Delete
	// for DELETE. List (tag listing) is also satisfied by Pull, as a
	// registry token carries no list action.
	Actions []access.Action
	// Catalog is set for GET /v2/_catalog (registry:catalog:* for callers
	// with a token).
	Catalog bool
}

// Guard admits requests to /v2.
type Guard interface {
	// Admit authenticates and authorizes r for need and returns r with the
	// principal and its grants in its context (access.PrincipalFrom,
	// access.GrantsFrom). On refusal it returns an error to send as is:
	// 401 UNAUTHORIZED with a WWW-Authenticate Bearer challenge (set on w)
	// when the caller is anonymous or its token lacks the scope, 403 DENIED
	// when a signed-in caller may not; the same answer whether or not the
	// repository exists.
	Admit(w http.ResponseWriter, r *http.Request, need Need) (*http.Request, error)
	// Visible returns the catalog filter of r's principal (r as Admit
	// returned it): true for the repositories the caller may see listed.
	Visible(r *http.Request) func(repo string) bool
}

// The action sets routes need, shared so that admitting a request
// allocates none.
var (
	needPull     = []access.Action{access.Pull}
	needPullPush = []access.Action{access.Pull, access.Push}
	needDelete   = []access.Action{access.Delete}
	needList     = []access.Action{access.List}
)

// need returns what route rt needs for method m.
func need(rt route, m string) Need {
	switch rt.kind {
	case kindBase:
		return Need{}
	case kindCatalog:
		return Need{Catalog: true}
	case kindTags:
		return Need{Repository: rt.name, Actions: needList}
	case kindUploadStart, kindUpload:
		return Need{Repository: rt.name, Actions: needPullPush}
	case kindManifest:
		switch m {
		case http.MethodPut:
			return Need{Repository: rt.name, Actions: needPullPush}
		case http.MethodDelete:
			return Need{Repository: rt.name, Actions: needDelete}
		}
	case kindBlob:
		if m == http.MethodDelete {
			return Need{Repository: rt.name, Actions: needDelete}
		}
	}
	// Manifest and blob reads, referrers.
	return Need{Repository: rt.name, Actions: needPull}
}

// admit asks the guard, if any, to admit r for route rt.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, rt route) (*http.Request, error) {
	if h.opts.Guard == nil {
		return r, nil
	}
	return h.opts.Guard.Admit(w, r, need(rt, r.Method))
}

// audit records a registry event of the request's caller on repo, if an
// audit sink is configured. Only successful operations are recorded here;
// the guard records refusals.
func (h *Handler) audit(r *http.Request, action, repo, resource, detail string) {
	if h.opts.Audit == nil {
		return
	}
	ctx := r.Context()
	p := access.PrincipalFrom(ctx)
	kind := string(p.Kind)
	if p.IsAnonymous() {
		kind = string(access.Anonymous)
	}
	h.opts.Audit(ctx, meta.AuditEvent{
		At:        time.Now().UTC(),
		ActorKind: kind,
		Actor:     p.Name,
		Remote:    hostOf(r.RemoteAddr),
		Action:    action,
		Project:   access.ProjectOf(repo),
		Resource:  resource,
		Outcome:   "success",
		Detail:    detail,
	})
}

// hostOf returns the host part of a host:port address (the address itself
// if it has no port).
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// visible returns the catalog filter for r, or nil when everything is
// visible (no guard).
func (h *Handler) visible(r *http.Request) func(string) bool {
	if h.opts.Guard == nil {
		return nil
	}
	return h.opts.Guard.Visible(r)
}
