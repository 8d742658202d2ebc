package tokenapi

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/ref"
)

// scopeRequest is one resource a token request asks for.
type scopeRequest struct {
	typ, name string
	actions   []string
}

// parseScope parses "type[(class)]:name:action[,action…]". The name is
// everything between the first and the last colon (a registry resource
// name could hold one). It reports false for anything else.
func parseScope(s string) (scopeRequest, bool) {
	i := strings.IndexByte(s, ':')
	j := strings.LastIndexByte(s, ':')
	if i <= 0 || j == i {
		return scopeRequest{}, false
	}
	typ := s[:i]
	if k := strings.IndexByte(typ, '('); k > 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:k] // repository(plugin): the class does not change access
	}
	var actions []string
	for a := range strings.SplitSeq(s[j+1:], ",") {
		if a = strings.TrimSpace(a); a != "" {
			actions = append(actions, a)
		}
	}
	return scopeRequest{typ: typ, name: s[i+1 : j], actions: actions}, true
}

// parseScopes parses every scope of raw (each value may hold several,
// space-separated), merging the actions asked for one resource.
// Malformed scopes are ignored: they grant nothing.
func parseScopes(raw []string) []scopeRequest {
	var out []scopeRequest
	for _, v := range raw {
		for s := range strings.FieldsSeq(v) {
			sr, ok := parseScope(s)
			if !ok {
				continue
			}
			merged := false
			for i := range out {
				if out[i].typ == sr.typ && out[i].name == sr.name {
					out[i].actions = append(out[i].actions, sr.actions...)
					merged = true
					break
				}
			}
			if !merged {
				out = append(out, sr)
			}
		}
	}
	return out
}

// tokenActions are the repository actions a token can carry, in the
// order they are granted.
var tokenActions = []access.Action{access.Pull, access.Push, access.Delete}

// wantedActions maps a scope's action names to access actions: pull, push,
// delete, and "*" for all three. Other names ask for nothing.
func wantedActions(names []string) []access.Action {
	var out []access.Action
	add := func(a access.Action) {
		if !access.Has(out, a) {
			out = append(out, a)
		}
	}
	for _, n := range names {
		switch n {
		case "*":
			for _, a := range tokenActions {
				add(a)
			}
		case "pull", "push", "delete":
			add(access.Action(n))
		}
	}
	return out
}

// grant returns the access a token for p gets for scopes: for each
// repository the intersection of what was asked and what the access service
// allows p, and the catalog for any signed-in caller (the catalog is
// filtered per caller anyway). Resources granted nothing are left out. An
// error means the decision could not be made (the database failed).
func (h *Handler) grant(ctx context.Context, p access.Principal, scopes []scopeRequest) ([]auth.ResourceActions, error) {
	var out []auth.ResourceActions
	for _, sr := range scopes {
		switch {
		case sr.typ == "registry" && sr.name == "catalog":
			if !p.IsAnonymous() && slices.Contains(sr.actions, "*") {
				out = append(out, auth.ResourceActions{Type: "registry", Name: "catalog", Actions: []string{"*"}})
			}
		case sr.typ == "repository":
			if ref.ValidRepository(sr.name) != nil {
				continue
			}
			wanted := wantedActions(sr.actions)
			if len(wanted) == 0 {
				continue
			}
			got, err := h.opts.Access.Authorize(ctx, p, sr.name, wanted)
			if err != nil {
				if !isRefusal(err) {
					return nil, err
				}
				continue
			}
			var names []string
			for _, a := range tokenActions {
				if access.Has(wanted, a) && access.Has(got, a) {
					names = append(names, string(a))
				}
			}
			if len(names) > 0 {
				out = append(out, auth.ResourceActions{Type: "repository", Name: sr.name, Actions: names})
			}
		}
	}
	return out, nil
}

// isRefusal reports whether err is an answer about the request (denied,
// not found, invalid) rather than a failure to decide.
func isRefusal(err error) bool {
	return errdefs.IsDenied(err) || errdefs.IsNotFound(err) || errdefs.IsInvalid(err) ||
		errors.Is(err, errdefs.ErrUnauthenticated)
}

// describe names granted access for the audit log, e.g.
// "repository:team/app:pull,push registry:catalog:*".
func describe(granted []auth.ResourceActions) string {
	if len(granted) == 0 {
		return "no access"
	}
	return scopeString(granted)
}
