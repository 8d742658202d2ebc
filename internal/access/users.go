package access

import (
	"context"
	"fmt"
	"slices"

	"github.com/berth-registry/berth/internal/auth/secret"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// AdminUser is the name of the system administrator EnsureAdmin creates.
const AdminUser = "admin"

// NewUser describes a local account to create.
type NewUser struct {
	Name     string
	Email    string
	Password string // at least MinPasswordLength characters
	SysAdmin bool
}

// UserChange lists what UpdateUser changes: nil fields are left alone.
type UserChange struct {
	Email    *string
	Password *string
	SysAdmin *bool
	Disabled *bool
}

// OIDCIdentity is who an OpenID Connect provider says signed in.
type OIDCIdentity struct {
	// Issuer and Subject identify the person at the provider.
	Issuer  string
	Subject string
	// Username is the wanted user name (from preferred_username, the
	// e-mail or the subject); it is made to fit the user name rules and, if
	// another account holds it, suffixed.
	Username string
	Email    string
	Groups   []string
	// Admin says the provider puts the person in the administrators'
	// group: the user becomes a system administrator. False leaves the
	// stored flag alone (a system administrator may have granted it),
	// unless AdminManaged.
	Admin bool
	// AdminManaged says the provider's groups decide the system
	// administrator flag (an admin group is configured): then Admin false
	// also takes the flag away, so that leaving the group at the provider
	// revokes the rights at the next sign-in (never from the last enabled
	// system administrator).
	AdminManaged bool
}

// EnsureAdmin creates the "admin" system administrator if no user exists
// yet, with password if not "", else with a generated one, which it returns
// to be printed once. created is false (and nothing changes) if any user
// existed.
func (s *Service) EnsureAdmin(ctx context.Context, password string) (generated string, created bool, err error) {
	defer errdefs.Wrapf(&err, "create the first administrator")
	users, err := s.store.ListUsers(ctx, "", 1)
	if err != nil || len(users) > 0 {
		return "", false, err
	}
	pw := password
	if pw == "" {
		if pw, err = secret.NewSecret(); err != nil {
			return "", false, err
		}
	} else if err := validPassword(password); err != nil {
		return "", false, fmt.Errorf("admin password: %w", err)
	}
	system := Principal{Kind: System, Name: "berth"}
	defer s.record(ctx, system, "user.create", "", AdminUser, &err)
	hash, err := secret.HashPassword(pw)
	if err != nil {
		return "", false, err
	}
	now := s.now()
	u := &meta.User{Name: AdminUser, PasswordHash: hash, SysAdmin: true, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); errdefs.IsAlreadyExists(err) {
		return "", false, nil // another replica was first
	} else if err != nil {
		return "", false, err
	}
	if password == "" {
		generated = pw
	}
	return generated, true, nil
}

// CreateUser creates a local account; actor must be a system
// administrator. ErrAlreadyExists if the name is taken.
func (s *Service) CreateUser(ctx context.Context, actor Principal, nu NewUser) (_ *meta.User, err error) {
	defer s.record(ctx, actor, "user.create", "", nu.Name, &err)
	defer errdefs.Wrapf(&err, "create user %q", nu.Name)
	if err := requireSysAdmin(actor, "create users"); err != nil {
		return nil, err
	}
	if err := validUserName(nu.Name); err != nil {
		return nil, err
	}
	if err := validEmail(nu.Email); err != nil {
		return nil, err
	}
	if err := validPassword(nu.Password); err != nil {
		return nil, err
	}
	hash, err := secret.HashPassword(nu.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &meta.User{Name: nu.Name, Email: nu.Email, PasswordHash: hash, SysAdmin: nu.SysAdmin, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return scrubUser(u), nil
}

// GetUser returns user name without its password and CLI secret hashes;
// actor must be a system administrator or the user.
func (s *Service) GetUser(ctx context.Context, actor Principal, name string) (_ *meta.User, err error) {
	defer errdefs.Wrapf(&err, "get user %q", name)
	if !isSelf(actor, name) {
		if err := requireSysAdmin(actor, "read other users"); err != nil {
			return nil, err
		}
	}
	u, err := s.store.GetUser(ctx, name)
	if err != nil {
		return nil, err
	}
	return scrubUser(u), nil
}

// ListUsers returns up to limit users (<= 0: no limit) in name order after
// `after`, without hashes; actor must be a system administrator.
func (s *Service) ListUsers(ctx context.Context, actor Principal, after string, limit int) (_ []meta.User, err error) {
	defer errdefs.Wrapf(&err, "list users")
	if err := requireSysAdmin(actor, "list users"); err != nil {
		return nil, err
	}
	us, err := s.store.ListUsers(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	for i := range us {
		us[i] = *scrubUser(&us[i])
	}
	return us, nil
}

// UpdateUser applies ch to user name. A system administrator may change
// anything; a user may change only their own password. The last enabled
// system administrator cannot be demoted or disabled (ErrConflict).
func (s *Service) UpdateUser(ctx context.Context, actor Principal, name string, ch UserChange) (_ *meta.User, err error) {
	defer s.record(ctx, actor, "user.update", "", name, &err)
	defer errdefs.Wrapf(&err, "update user %q", name)
	ownPassword := isSelf(actor, name) && ch.Email == nil && ch.SysAdmin == nil && ch.Disabled == nil
	if !ownPassword {
		if err := requireSysAdmin(actor, "change other users, or anything but their own password"); err != nil {
			return nil, err
		}
	}
	if ch.Email != nil {
		if err := validEmail(*ch.Email); err != nil {
			return nil, err
		}
	}
	var hash string
	if ch.Password != nil {
		if err := validPassword(*ch.Password); err != nil {
			return nil, err
		}
		if hash, err = secret.HashPassword(*ch.Password); err != nil {
			return nil, err
		}
	}
	var out *meta.User
	defer s.changed()
	err = s.store.WithTx(ctx, func(tx meta.Querier) error {
		u, err := tx.GetUser(ctx, name)
		if err != nil {
			return err
		}
		demoted := (ch.SysAdmin != nil && !*ch.SysAdmin) || (ch.Disabled != nil && *ch.Disabled)
		if demoted && u.SysAdmin && !u.Disabled {
			if err := checkNotLastAdmin(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		applyUserChange(u, ch, hash)
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return scrubUser(out), nil
}

// applyUserChange sets the fields ch names on u; hash is the new password's.
func applyUserChange(u *meta.User, ch UserChange, hash string) {
	if ch.Email != nil {
		u.Email = *ch.Email
	}
	if ch.Password != nil {
		u.PasswordHash = hash
	}
	if ch.SysAdmin != nil {
		u.SysAdmin = *ch.SysAdmin
	}
	if ch.Disabled != nil {
		u.Disabled = *ch.Disabled
	}
}

// DeleteUser deletes user name and its memberships; actor must be a system
// administrator. The last enabled system administrator cannot be deleted
// (ErrConflict).
func (s *Service) DeleteUser(ctx context.Context, actor Principal, name string) (err error) {
	defer s.record(ctx, actor, "user.delete", "", name, &err)
	defer errdefs.Wrapf(&err, "delete user %q", name)
	if err := requireSysAdmin(actor, "delete users"); err != nil {
		return err
	}
	defer s.changed()
	return s.store.WithTx(ctx, func(tx meta.Querier) error {
		u, err := tx.GetUser(ctx, name)
		if err != nil {
			return err
		}
		if u.SysAdmin && !u.Disabled {
			if err := checkNotLastAdmin(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		return tx.DeleteUser(ctx, name)
	})
}

// checkNotLastAdmin returns ErrConflict unless an enabled system
// administrator other than user id exists.
func checkNotLastAdmin(ctx context.Context, q meta.Users, id int64) error {
	const page = 500
	after := ""
	for {
		us, err := q.ListUsers(ctx, after, page)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(us, func(u meta.User) bool { return u.SysAdmin && !u.Disabled && u.ID != id }) {
			return nil
		}
		if len(us) < page {
			return errdefs.Conflict("it is the last enabled system administrator; make another user a system administrator first")
		}
		after = us[len(us)-1].Name
	}
}

// ResetCLISecret gives user name a new CLI secret (a password for docker
// login and the CLI that does not depend on a browser session) and returns
// it, to be shown once; actor must be a system administrator or the user.
func (s *Service) ResetCLISecret(ctx context.Context, actor Principal, name string) (_ string, err error) {
	defer s.record(ctx, actor, "user.secret", "", name, &err)
	defer errdefs.Wrapf(&err, "reset the CLI secret of user %q", name)
	if !isSelf(actor, name) {
		if err := requireSysAdmin(actor, "reset other users' CLI secrets"); err != nil {
			return "", err
		}
	}
	sec, err := secret.NewSecret()
	if err != nil {
		return "", err
	}
	hash := secret.HashSecret(sec)
	defer s.changed()
	err = s.store.WithTx(ctx, func(tx meta.Querier) error {
		u, err := tx.GetUser(ctx, name)
		if err != nil {
			return err
		}
		u.CLISecretHash = hash
		u.UpdatedAt = s.now()
		return tx.UpdateUser(ctx, u)
	})
	if err != nil {
		return "", err
	}
	return sec, nil
}

// isSelf reports whether actor is the user called name.
func isSelf(actor Principal, name string) bool {
	return actor.Kind == UserKind && actor.Name == name
}

// scrubUser returns a copy of u without its password and CLI secret
// hashes, which never leave the service.
func scrubUser(u *meta.User) *meta.User {
	c := *u
	c.PasswordHash, c.CLISecretHash = "", ""
	c.Groups = slices.Clone(u.Groups)
	return &c
}
