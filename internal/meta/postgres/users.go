package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

// Expected refusals (a taken name, a missing project) are found without a
// failing statement (ON CONFLICT DO NOTHING, conditional writes), so that
// a transaction of WithTx survives them, as in uploads.go.

const userCols = `id, name, email, password_hash, sys_admin, issuer, subject, idp_groups,
	cli_secret_hash, disabled, created_at, updated_at, last_login_at`

// Users.
const (
	insertUserSQL = `INSERT INTO users (name, email, password_hash, sys_admin, issuer, subject,
		idp_groups, cli_secret_hash, disabled, created_at, updated_at, last_login_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT DO NOTHING RETURNING id`
	getUserSQL          = `SELECT ` + userCols + ` FROM users WHERE name = $1`
	getUserBySubjectSQL = `SELECT ` + userCols + ` FROM users
		WHERE issuer = $1 AND subject = $2 AND issuer <> ''`
	// The update is skipped when another user holds the OIDC identity; the
	// columns say whether the user exists and whether the identity is taken.
	touchUserSQL = `UPDATE users SET last_login_at = $1
		WHERE id = $2 AND (last_login_at IS NULL OR last_login_at < $1)`
	updateUserSQL = `WITH taken AS (
			SELECT EXISTS (SELECT 1 FROM users WHERE issuer = $4 AND subject = $5
				AND issuer <> '' AND id <> $11) AS t
		), u AS (
			UPDATE users SET email = $1, password_hash = $2, sys_admin = $3, issuer = $4,
				subject = $5, idp_groups = $6, cli_secret_hash = $7, disabled = $8,
				updated_at = $9, last_login_at = $10
			WHERE id = $11 AND NOT (SELECT t FROM taken) RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM users WHERE id = $11), (SELECT t FROM taken)`
	deleteUserSQL = `WITH d AS (DELETE FROM users WHERE name = $1 RETURNING 1),
		m AS (DELETE FROM project_members WHERE kind = 'user' AND name = $1 AND EXISTS (SELECT 1 FROM d))
		SELECT count(*) FROM d`
	listUsersSQL = `SELECT ` + userCols + ` FROM users WHERE name > $1 ORDER BY name LIMIT $2`
)

// nullTime is the stored form of a time that may be "never": NULL for the
// zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = pgTime(t)
	return &t
}

// fromNullTime is the inverse of nullTime, in UTC.
func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// textArray is list as a text[] argument: empty, never NULL.
func textArray(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// nilIfEmpty returns nil for an empty list, as the SQLite backend reads it.
func nilIfEmpty[T any](list []T) []T {
	if len(list) == 0 {
		return nil
	}
	return list
}

func scanUser(row pgx.Row) (*meta.User, error) {
	var (
		u     meta.User
		login *time.Time
	)
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.SysAdmin, &u.Issuer, &u.Subject,
		&u.Groups, &u.CLISecretHash, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &login)
	if err != nil {
		return nil, err
	}
	u.Groups = nilIfEmpty(u.Groups)
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC(), fromNullTime(login)
	return &u, nil
}

// getOne runs a one-row query, scans it with scan and classes a missing
// row as ErrNotFound described by what.
func getOne[T any](ctx context.Context, db dbtx, scan func(pgx.Row) (*T, error), what, query string, args ...any) (*T, error) {
	v, err := scan(db.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errdefs.NotFound("%s not found", what)
	}
	if err != nil {
		return nil, classify(err)
	}
	return v, nil
}

// queryAll runs query and scans every row with scan; no rows is a nil
// slice.
func queryAll[T any](ctx context.Context, db dbtx, scan func(pgx.Row) (*T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
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

// CreateUser stores u and sets u.ID (CreatedAt and UpdatedAt default to
// now); ErrAlreadyExists if the name, or the issuer and subject, are taken.
func (q *querier) CreateUser(ctx context.Context, u *meta.User) (err error) {
	defer errdefs.Wrapf(&err, "postgres: create user %q", u.Name)
	err = q.db.QueryRow(ctx, insertUserSQL, u.Name, u.Email, u.PasswordHash, u.SysAdmin, u.Issuer,
		u.Subject, textArray(u.Groups), u.CLISecretHash, u.Disabled, pgTimeOrNow(u.CreatedAt),
		pgTimeOrNow(u.UpdatedAt), nullTime(u.LastLoginAt)).Scan(&u.ID)
	switch {
	case errors.Is(err, pgx.ErrNoRows), sqlState(err) == codeUniqueViolation:
		return errdefs.AlreadyExists("user %q (or its OIDC identity) already exists", u.Name)
	case err != nil:
		return classify(err)
	}
	return nil
}

// GetUser returns the user called name or ErrNotFound.
func (q *querier) GetUser(ctx context.Context, name string) (_ *meta.User, err error) {
	defer errdefs.Wrapf(&err, "postgres: get user %q", name)
	return getOne(ctx, q.db, scanUser, fmt.Sprintf("user %q", name), getUserSQL, name)
}

// GetUserBySubject returns the OIDC user of issuer and subject or
// ErrNotFound (always for an empty issuer: local accounts have none).
func (q *querier) GetUserBySubject(ctx context.Context, issuer, subject string) (_ *meta.User, err error) {
	defer errdefs.Wrapf(&err, "postgres: get user of %s subject %q", issuer, subject)
	return getOne(ctx, q.db, scanUser, "user", getUserBySubjectSQL, issuer, subject)
}

// UpdateUser stores every field of u but ID, Name and CreatedAt (UpdatedAt
// defaults to now); ErrNotFound if absent, ErrAlreadyExists if another user
// has the issuer and subject.
func (q *querier) UpdateUser(ctx context.Context, u *meta.User) (err error) {
	defer errdefs.Wrapf(&err, "postgres: update user %d", u.ID)
	var exists, taken bool
	err = q.db.QueryRow(ctx, updateUserSQL, u.Email, u.PasswordHash, u.SysAdmin, u.Issuer, u.Subject,
		textArray(u.Groups), u.CLISecretHash, u.Disabled, pgTimeOrNow(u.UpdatedAt),
		nullTime(u.LastLoginAt), u.ID).Scan(&exists, &taken)
	switch {
	case sqlState(err) == codeUniqueViolation: // taken concurrently
		return errdefs.AlreadyExists("another user has the OIDC identity %s %q", u.Issuer, u.Subject)
	case err != nil:
		return classify(err)
	case !exists:
		return errdefs.NotFound("user %d not found", u.ID)
	case taken:
		return errdefs.AlreadyExists("another user has the OIDC identity %s %q", u.Issuer, u.Subject)
	}
	return nil
}

// TouchUser sets the last sign-in time of user id to at if that is later
// than the one stored; a missing user is not an error.
func (q *querier) TouchUser(ctx context.Context, id int64, at time.Time) (err error) {
	defer errdefs.Wrapf(&err, "postgres: touch user %d", id)
	_, err = q.db.Exec(ctx, touchUserSQL, pgTime(at), id)
	return classify(err)
}

// DeleteUser removes the user and its (user) memberships; ErrNotFound if
// absent.
func (q *querier) DeleteUser(ctx context.Context, name string) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete user %q", name)
	var n int64
	if err := q.db.QueryRow(ctx, deleteUserSQL, name).Scan(&n); err != nil {
		return classify(err)
	}
	if n == 0 {
		return errdefs.NotFound("user %q not found", name)
	}
	return nil
}

// ListUsers returns up to limit (all if limit <= 0) users in byte order of
// name, strictly after `after`.
func (q *querier) ListUsers(ctx context.Context, after string, limit int) (_ []meta.User, err error) {
	defer errdefs.Wrapf(&err, "postgres: list users after %q", after)
	return queryAll(ctx, q.db, scanUser, listUsersSQL, after, limitArg(limit))
}
