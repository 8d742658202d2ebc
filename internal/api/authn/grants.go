package authn

import (
	"context"
	"slices"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/auth"
)

// serviceGrants answers for a caller who signed in with a password (or not
// at all) by asking the access service, which caches project facts briefly.
type serviceGrants struct {
	svc *access.Service
	p   access.Principal
}

// Allowed implements access.Grants.
func (g *serviceGrants) Allowed(ctx context.Context, repo string, a access.Action) bool {
	got, err := g.svc.Authorize(ctx, g.p, repo, []access.Action{a})
	return err == nil && access.Has(got, a)
}

// allowedAll reports whether every action of wanted is allowed on repo
// (List also by Pull), in one decision: a push that creates the project
// (auto-create) is decided together with the pull that comes with it.
func (g *serviceGrants) allowedAll(ctx context.Context, repo string, wanted []access.Action) bool {
	ask := slices.Clone(wanted)
	if slices.Contains(ask, access.List) && !slices.Contains(ask, access.Pull) {
		ask = append(ask, access.Pull)
	}
	got, err := g.svc.Authorize(ctx, g.p, repo, ask)
	if err != nil {
		return false
	}
	for _, a := range wanted {
		if !access.Has(got, a) && (a != access.List || !access.Has(got, access.Pull)) {
			return false
		}
	}
	return true
}

// tokenGrants answers for a caller with a registry token from the token's
// access claims alone: what the token endpoint granted when it issued it.
type tokenGrants struct {
	access []auth.ResourceActions
	// p is the token's subject (kind and name only) and g the guard, for
	// mayMountFrom.
	p access.Principal
	g *Guard
}

// mayMountFrom reports whether the token's subject may pull from repo, the
// source of a cross-repository mount, when the token itself does not name
// repo: clients ask for a token scoped to the repository they push to (the
// challenge's scope), and not all of them add the mount's source. The
// subject is looked up as it is now (a revoked robot mounts from nowhere);
// this runs only for mounts, never on the pull path.
func (g *tokenGrants) mayMountFrom(ctx context.Context, repo string) bool {
	p := access.AnonymousPrincipal
	if !g.p.IsAnonymous() {
		var err error
		if p, err = g.g.opts.Auth.Lookup(ctx, g.p.Kind, g.p.Name); err != nil {
			return false
		}
	}
	got, err := g.g.opts.Access.Authorize(ctx, p, repo, []access.Action{access.Pull})
	return err == nil && access.Has(got, access.Pull)
}

// Allowed implements access.Grants. A token grants pull, push and delete
// ("*" all three) on the repositories it names, nothing else.
func (g *tokenGrants) Allowed(_ context.Context, repo string, a access.Action) bool {
	if a != access.Pull && a != access.Push && a != access.Delete {
		return false
	}
	for _, ra := range g.access {
		if ra.Type != "repository" || ra.Name != repo {
			continue
		}
		for _, s := range ra.Actions {
			if s == string(a) || s == "*" {
				return true
			}
		}
	}
	return false
}

// catalog reports whether the token grants registry:catalog:*.
func (g *tokenGrants) catalog() bool {
	for _, ra := range g.access {
		if ra.Type == "registry" && ra.Name == "catalog" && slices.Contains(ra.Actions, "*") {
			return true
		}
	}
	return false
}
