package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

const userCols = `id, name, email, password_hash, sys_admin, issuer, subject, idp_groups,
	cli_secret_hash, disabled, created_at, updated_at, last_login_at`

// Users.
var (
	insertUserSQL = stmt(`INSERT INTO users (name, email, password_hash, sys_admin, issuer,
		subject, idp_groups, cli_secret_hash, disabled, created_at, updated_at, last_login_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getUserSQL          = stmt(`SELECT ` + userCols + ` FROM users WHERE name = ?`)
	getUserBySubjectSQL = stmt(`SELECT ` + userCols + ` FROM users
		WHERE issuer = ? AND subject = ? AND issuer <> ''`)
	touchUserSQL = stmt(`UPDATE users SET last_login_at = ?
		WHERE id = ? AND (last_login_at IS NULL OR last_login_at < ?)`)
	updateUserSQL = stmt(`UPDATE users SET email = ?, password_hash = ?, sys_admin = ?,
		issuer = ?, subject = ?, idp_groups = ?, cli_secret_hash = ?, disabled = ?,
		updated_at = ?, last_login_at = ? WHERE id = ?`)
	deleteUserSQL        = stmt(`DELETE FROM users WHERE name = ?`)
	deleteUserMembersSQL = stmt(`DELETE FROM project_members WHERE kind = 'user' AND name = ?`)
	listUsersSQL         = stmt(`SELECT ` + userCols + ` FROM users WHERE name > ?
		ORDER BY name LIMIT ?`)
)

// nullMicros is the stored form of a time that may be "never": NULL for
// the zero time.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromNullMicros is the inverse of nullMicros.
func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// toJSON encodes a list column; an empty list is stored as "[]".
func toJSON[T any](list []T) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", errdefs.Invalid("encode %T: %v", list, err)
	}
	return string(b), nil
}

// fromJSON decodes a list column; an empty list comes back nil.
func fromJSON[T any](s string) ([]T, error) {
	var list []T
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("decode stored %T: %w", list, err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}

func scanUser(row scanner) (*meta.User, error) {
	var (
		u                meta.User
		groups           string
		created, updated int64
		login            sql.NullInt64
	)
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.SysAdmin, &u.Issuer, &u.Subject,
		&groups, &u.CLISecretHash, &u.Disabled, &created, &updated, &login)
	if err != nil {
		return nil, err
	}
	if u.Groups, err = fromJSON[string](groups); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = fromMicros(created), fromMicros(updated), fromNullMicros(login)
	return &u, nil
}

// getUserRow runs a one-user query and classes a missing row as
// ErrNotFound described by what.
func getUserRow(ctx context.Context, r runner, what, query string, args ...any) (*meta.User, error) {
	u, err := scanUser(r.queryRow(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("%s not found", what)
	}
	if err != nil {
		return nil, classify(err)
	}
	return u, nil
}

// CreateUser stores u and sets u.ID (CreatedAt and UpdatedAt default to
// now); ErrAlreadyExists if the name, or the issuer and subject, are taken.
func (q *querier) CreateUser(ctx context.Context, u *meta.User) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: create user %q", u.Name)
	groups, err := toJSON(u.Groups)
	if err != nil {
		return err
	}
	return q.write(ctx, func(w runner) error {
		res, err := w.exec(ctx, insertUserSQL, u.Name, u.Email, u.PasswordHash, u.SysAdmin, u.Issuer,
			u.Subject, groups, u.CLISecretHash, u.Disabled, microsOrNow(u.CreatedAt),
			microsOrNow(u.UpdatedAt), nullMicros(u.LastLoginAt))
		if isUniqueViolation(err) {
			return errdefs.AlreadyExists("user %q (or its OIDC identity) already exists", u.Name)
		}
		if err != nil {
			return classify(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return classify(err)
		}
		u.ID = id
		return nil
	})
}

// GetUser returns the user called name or ErrNotFound.
func (q *querier) GetUser(ctx context.Context, name string) (_ *meta.User, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get user %q", name)
	return getUserRow(ctx, q.read, fmt.Sprintf("user %q", name), getUserSQL, name)
}

// GetUserBySubject returns the OIDC user of issuer and subject or
// ErrNotFound (always for an empty issuer: local accounts have none).
func (q *querier) GetUserBySubject(ctx context.Context, issuer, subject string) (_ *meta.User, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get user of %s subject %q", issuer, subject)
	return getUserRow(ctx, q.read, "user", getUserBySubjectSQL, issuer, subject)
}

// UpdateUser stores every field of u but ID, Name and CreatedAt (UpdatedAt
// defaults to now); ErrNotFound if absent, ErrAlreadyExists if another user
// has the issuer and subject.
func (q *querier) UpdateUser(ctx context.Context, u *meta.User) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: update user %d", u.ID)
	groups, err := toJSON(u.Groups)
	if err != nil {
		return err
	}
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, updateUserSQL, u.Email, u.PasswordHash, u.SysAdmin, u.Issuer,
			u.Subject, groups, u.CLISecretHash, u.Disabled, microsOrNow(u.UpdatedAt),
			nullMicros(u.LastLoginAt), u.ID))
		switch {
		case isUniqueViolation(err):
			return errdefs.AlreadyExists("another user has the OIDC identity %s %q", u.Issuer, u.Subject)
		case err != nil:
			return classify(err)
		case n == 0:
			return errdefs.NotFound("user %d not found", u.ID)
		}
		return nil
	})
}

// TouchUser sets the last sign-in time of user id to at if that is later
// than the one stored; a missing user is not an error.
func (q *querier) TouchUser(ctx context.Context, id int64, at time.Time) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: touch user %d", id)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, touchUserSQL, micros(at), id, micros(at))
		return classify(err)
	})
}

// DeleteUser removes the user and its (user) memberships; ErrNotFound if
// absent.
func (q *querier) DeleteUser(ctx context.Context, name string) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete user %q", name)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteUserSQL, name))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("user %q not found", name)
		}
		_, err = w.exec(ctx, deleteUserMembersSQL, name)
		return classify(err)
	})
}

// ListUsers returns up to limit (all if limit <= 0) users in byte order of
// name, strictly after `after`.
func (q *querier) ListUsers(ctx context.Context, after string, limit int) (_ []meta.User, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list users after %q", after)
	rows, err := q.read.query(ctx, listUsersSQL, after, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanUser)
}

// scanAll reads every row with scan and closes rows.
func scanAll[T any](rows *sql.Rows, scan func(scanner) (*T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
