package access

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// OnboardOIDC finds the user of an OIDC identity (issuer, subject) or
// creates it, and records the sign-in: e-mail, groups, the system
// administrator flag (set when id.Admin) and the last sign-in time
// are updated from the identity. A new user's name is id.Username made to fit
// the user name rules, suffixed "-2", "-3", … if another account holds it
// (an OIDC identity never takes over a local account). An existing user
// keeps its name (the store does not rename). ErrDenied if the account is
// disabled. The user is returned with its hashes (the caller, the sign-in
// handler, needs to know whether a CLI secret was issued).
func (s *Service) OnboardOIDC(ctx context.Context, id OIDCIdentity) (_ *meta.User, err error) {
	defer errdefs.Wrapf(&err, "sign in %s from %s", id.Subject, id.Issuer)
	if id.Issuer == "" || id.Subject == "" {
		return nil, errdefs.Invalid("an OIDC identity needs an issuer and a subject")
	}
	email := id.Email
	if validEmail(email) != nil {
		email = ""
	}
	u, err := s.store.GetUserBySubject(ctx, id.Issuer, id.Subject)
	if errdefs.IsNotFound(err) {
		return s.createOIDCUser(ctx, id, email)
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errdefs.Denied("the account %q is disabled; ask a system administrator", u.Name)
	}
	u.Email = email
	u.Groups = slices.Clone(id.Groups)
	demote := id.AdminManaged && !id.Admin && u.SysAdmin
	if id.Admin {
		u.SysAdmin = true
	}
	u.LastLoginAt = s.now()
	u.UpdatedAt = u.LastLoginAt
	defer s.changed()
	err = s.store.WithTx(ctx, func(tx meta.Querier) error {
		if demote {
			u.SysAdmin = checkNotLastAdmin(ctx, tx, u.ID) != nil
		}
		return tx.UpdateUser(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	if demote && !u.SysAdmin {
		actor := Principal{Kind: UserKind, Name: u.Name}
		s.record(ctx, actor, "user.demote", "", u.Name, &err)
	}
	return u, nil
}

// createOIDCUser creates the user of a first OIDC sign-in under the first
// free name derived from id.Name.
func (s *Service) createOIDCUser(ctx context.Context, id OIDCIdentity, email string) (_ *meta.User, err error) {
	base := userNameFrom(id.Username, id.Subject)
	now := s.now()
	u := &meta.User{Email: email, Issuer: id.Issuer, Subject: id.Subject, Groups: slices.Clone(id.Groups),
		SysAdmin: id.Admin, CreatedAt: now, UpdatedAt: now, LastLoginAt: now}
	defer s.changed()
	for i := 1; i <= 100; i++ {
		u.Name = withSuffix(base, i)
		err := s.store.CreateUser(ctx, u)
		if err == nil {
			actor := Principal{Kind: UserKind, Name: u.Name}
			s.record(ctx, actor, "user.onboard", "", u.Name, &err)
			return u, nil
		}
		if !errdefs.IsAlreadyExists(err) {
			return nil, err
		}
		// The name is taken, or this identity was created meanwhile.
		if got, gerr := s.store.GetUserBySubject(ctx, id.Issuer, id.Subject); gerr == nil {
			return got, nil
		}
	}
	return nil, errdefs.Conflict("no free user name like %q; ask a system administrator to rename an account", base)
}

// userNameFrom makes a valid user name of want: lower-cased, other
// characters replaced by "-", cut to 64 bytes; "user" if nothing is left.
func userNameFrom(want, subject string) string {
	if want == "" {
		want = subject
	}
	b := []byte(strings.ToLower(want))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	name := strings.TrimLeft(string(b), "._-")
	if len(name) > 60 {
		name = name[:60]
	}
	if name == "" {
		name = "user"
	}
	return name
}

// withSuffix returns base for i == 1, else base-i.
func withSuffix(base string, i int) string {
	if i == 1 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, i)
}
