package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// EnsureRepository returns the repository called name, creating it if
// absent; concurrent calls for one name all get the same row.
func (q *querier) EnsureRepository(ctx context.Context, name string) (_ *meta.Repository, err error) {
	defer errdefs.Wrapf(&err, "sqlite: ensure repository %q", name)
	if q.tx == nil {
		// Fast path: the repository usually exists already.
		r, err := getRepository(ctx, q.read, name)
		if err == nil || !errdefs.IsNotFound(err) {
			return r, err
		}
	}
	var r *meta.Repository
	err = q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, insertRepositorySQL, name, nowMicros())
		if err != nil {
			return classify(err)
		}
		r, err = getRepository(ctx, w, name)
		return err
	})
	return r, err
}

// GetRepository returns the repository called name or ErrNotFound.
func (q *querier) GetRepository(ctx context.Context, name string) (_ *meta.Repository, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get repository %q", name)
	return getRepository(ctx, q.read, name)
}

func getRepository(ctx context.Context, r runner, name string) (*meta.Repository, error) {
	var (
		repo    meta.Repository
		created int64
	)
	err := r.queryRow(ctx, getRepositorySQL, name).Scan(&repo.ID, &repo.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("repository %q not found", name)
	}
	if err != nil {
		return nil, classify(err)
	}
	repo.CreatedAt = fromMicros(created)
	return &repo, nil
}

// ListRepositories returns up to limit (no limit if limit <= 0) names of
// repositories holding at least one manifest, in byte order, strictly
// after `after`.
func (q *querier) ListRepositories(ctx context.Context, after string, limit int) (_ []string, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list repositories after %q", after)
	rows, err := q.read.query(ctx, listRepositoriesSQL, after, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanStrings(rows)
}

// scanStrings reads a one-column result of strings and closes rows.
func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, classify(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
