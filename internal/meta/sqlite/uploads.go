package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

func scanUpload(row scanner) (*meta.Upload, error) {
	var (
		u                         meta.Upload
		started, updated, expires int64
	)
	if err := row.Scan(&u.ID, &u.RepositoryID, &u.Offset, &u.State, &started, &updated, &expires); err != nil {
		return nil, err
	}
	u.StartedAt, u.UpdatedAt, u.ExpiresAt = fromMicros(started), fromMicros(updated), fromMicros(expires)
	return &u, nil
}

// CreateUpload stores a new session (StartedAt and UpdatedAt default to
// now); ErrAlreadyExists if the id is used, ErrNotFound if the repository
// does not exist.
func (q *querier) CreateUpload(ctx context.Context, u *meta.Upload) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: create upload %s", u.ID)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, insertUploadSQL, u.ID, u.RepositoryID, u.Offset, u.State, microsOrNow(u.StartedAt),
			microsOrNow(u.UpdatedAt), micros(u.ExpiresAt))
		switch {
		case isUniqueViolation(err):
			return errdefs.AlreadyExists("upload %s already exists", u.ID)
		case isFKViolation(err):
			return errdefs.NotFound("repository %d not found", u.RepositoryID)
		}
		return classify(err)
	})
}

// GetUpload returns the session or ErrNotFound.
func (q *querier) GetUpload(ctx context.Context, id string) (_ *meta.Upload, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get upload %s", id)
	u, err := scanUpload(q.read.queryRow(ctx, getUploadSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("upload %s not found", id)
	}
	if err != nil {
		return nil, classify(err)
	}
	return u, nil
}

// UpdateUpload stores u's Offset, State, UpdatedAt (now if zero) and
// ExpiresAt if the stored offset is fromOffset; ErrConflict if it is not,
// ErrNotFound if the session is gone.
func (q *querier) UpdateUpload(ctx context.Context, u *meta.Upload, fromOffset int64) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: update upload %s", u.ID)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, updateUploadSQL, u.Offset, u.State, microsOrNow(u.UpdatedAt), micros(u.ExpiresAt), u.ID, fromOffset))
		if err != nil {
			return classify(err)
		}
		if n == 1 {
			return nil
		}
		var at int64
		err = w.queryRow(ctx, getUploadOffsetSQL, u.ID).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFound("upload %s not found", u.ID)
		}
		if err != nil {
			return classify(err)
		}
		return errdefs.Conflict("upload %s is at offset %d, not %d", u.ID, at, fromOffset)
	})
}

// DeleteUpload removes the session; ErrNotFound if absent.
func (q *querier) DeleteUpload(ctx context.Context, id string) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete upload %s", id)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteUploadSQL, id))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("upload %s not found", id)
		}
		return nil
	})
}

// ListExpiredUploads returns up to limit (all if limit <= 0) sessions whose
// ExpiresAt is before t, earliest expiry first.
func (q *querier) ListExpiredUploads(ctx context.Context, t time.Time, limit int) (_ []meta.Upload, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list uploads expired before %s", t)
	rows, err := q.read.query(ctx, listExpiredSQL, micros(t), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
