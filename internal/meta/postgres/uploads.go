package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

func scanUpload(row pgx.Row) (*meta.Upload, error) {
	var u meta.Upload
	if err := row.Scan(&u.ID, &u.RepositoryID, &u.Offset, &u.State, &u.StartedAt, &u.UpdatedAt, &u.ExpiresAt); err != nil {
		return nil, err
	}
	u.StartedAt, u.UpdatedAt, u.ExpiresAt = u.StartedAt.UTC(), u.UpdatedAt.UTC(), u.ExpiresAt.UTC()
	return &u, nil
}

// CreateUpload stores a new session (StartedAt and UpdatedAt default to
// now); ErrAlreadyExists if the id is used, ErrNotFound if the repository
// does not exist. A used id is found with ON CONFLICT, not a failed
// statement, so a transaction survives it.
func (q *querier) CreateUpload(ctx context.Context, u *meta.Upload) (err error) {
	defer errdefs.Wrapf(&err, "postgres: create upload %s", u.ID)
	tag, err := q.db.Exec(ctx, insertUploadSQL, u.ID, u.RepositoryID, u.Offset, u.State,
		pgTimeOrNow(u.StartedAt), pgTimeOrNow(u.UpdatedAt), pgTime(u.ExpiresAt))
	switch {
	case isFKViolation(err):
		return errdefs.NotFound("repository %d not found", u.RepositoryID)
	case err != nil:
		return classify(err)
	case tag.RowsAffected() == 0:
		return errdefs.AlreadyExists("upload %s already exists", u.ID)
	}
	return nil
}

// GetUpload returns the session or ErrNotFound.
func (q *querier) GetUpload(ctx context.Context, id string) (_ *meta.Upload, err error) {
	defer errdefs.Wrapf(&err, "postgres: get upload %s", id)
	u, err := scanUpload(q.db.QueryRow(ctx, getUploadSQL, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errdefs.NotFound("upload %s not found", id)
	}
	if err != nil {
		return nil, classify(err)
	}
	return u, nil
}

// UpdateUpload stores u's Offset, State, UpdatedAt (now if zero) and
// ExpiresAt if the stored offset is fromOffset; ErrConflict if it is not,
// ErrNotFound if the session is gone. The guard is the UPDATE's own WHERE,
// which PostgreSQL re-checks on the newest row version after waiting for a
// concurrent update, so of two requests from the same offset one wins.
func (q *querier) UpdateUpload(ctx context.Context, u *meta.Upload, fromOffset int64) (err error) {
	defer errdefs.Wrapf(&err, "postgres: update upload %s", u.ID)
	var (
		n  int64
		at *int64
	)
	err = q.db.QueryRow(ctx, updateUploadSQL, u.Offset, u.State, pgTimeOrNow(u.UpdatedAt),
		pgTime(u.ExpiresAt), u.ID, fromOffset).Scan(&n, &at)
	switch {
	case err != nil:
		return classify(err)
	case n == 1:
		return nil
	case at == nil:
		return errdefs.NotFound("upload %s not found", u.ID)
	}
	return errdefs.Conflict("upload %s is at offset %d, not %d", u.ID, *at, fromOffset)
}

// DeleteUpload removes the session; ErrNotFound if absent.
func (q *querier) DeleteUpload(ctx context.Context, id string) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete upload %s", id)
	tag, err := q.db.Exec(ctx, deleteUploadSQL, id)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("upload %s not found", id)
	}
	return nil
}

// ListExpiredUploads returns up to limit (all if limit <= 0) sessions whose
// ExpiresAt is before t, earliest expiry first.
func (q *querier) ListExpiredUploads(ctx context.Context, t time.Time, limit int) (_ []meta.Upload, err error) {
	defer errdefs.Wrapf(&err, "postgres: list uploads expired before %s", t)
	rows, err := q.db.Query(ctx, listExpiredSQL, pgTime(t), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Upload, error) {
		u, err := scanUpload(row)
		if err != nil {
			return meta.Upload{}, err
		}
		return *u, nil
	})
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}
