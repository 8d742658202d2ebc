package access

import "context"

// ctxKey keys the values this package keeps in a context.
type ctxKey int

const (
	principalKey ctxKey = iota
	grantsKey
)

// WithPrincipal returns ctx carrying p, the caller of the request it
// belongs to.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFrom returns the principal in ctx, or AnonymousPrincipal when
// ctx carries none.
func PrincipalFrom(ctx context.Context) Principal {
	if p, ok := ctx.Value(principalKey).(Principal); ok {
		return p
	}
	return AnonymousPrincipal
}

// Grants answers, for one request, whether its caller may take an action on
// a repository. How it answers depends on how the caller authenticated:
// a caller with a password (or none) is asked of the Service; a caller with
// a registry token gets exactly what the token's access claims say.
type Grants interface {
	// Allowed reports whether the caller may take action a on repository
	// repo (a full name). Failures to decide answer false.
	Allowed(ctx context.Context, repo string, a Action) bool
}

// WithGrants returns ctx carrying g, the grant checker of the request's
// caller.
func WithGrants(ctx context.Context, g Grants) context.Context {
	return context.WithValue(ctx, grantsKey, g)
}

// GrantsFrom returns the grant checker in ctx. When ctx carries none it
// returns NoGrants, which allows nothing: code that forgot to authenticate
// fails closed.
func GrantsFrom(ctx context.Context) Grants {
	if g, ok := ctx.Value(grantsKey).(Grants); ok && g != nil {
		return g
	}
	return NoGrants
}

// NoGrants allows nothing.
var NoGrants Grants = noGrants{}

type noGrants struct{}

func (noGrants) Allowed(context.Context, string, Action) bool { return false }
