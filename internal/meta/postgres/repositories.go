package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

// EnsureRepository returns the repository called name, creating it if
// absent; concurrent calls for one name, from any process, all get the same
// row. The insert waits for a concurrent insert of the name to end, and the
// lookup that follows a conflict, a statement of its own, sees the row the
// other transaction committed.
func (q *querier) EnsureRepository(ctx context.Context, name string) (_ *meta.Repository, err error) {
	defer errdefs.Wrapf(&err, "postgres: ensure repository %q", name)
	// The repository usually exists already.
	r, err := getRepository(ctx, q.db, name)
	if err == nil || !errdefs.IsNotFound(err) {
		return r, err
	}
	r, err = scanRepository(q.db.QueryRow(ctx, insertRepositorySQL, name, pgTimeOrNow(time.Time{})), name)
	if err == nil || !errdefs.IsNotFound(err) {
		return r, err
	}
	return getRepository(ctx, q.db, name)
}

// GetRepository returns the repository called name or ErrNotFound.
func (q *querier) GetRepository(ctx context.Context, name string) (_ *meta.Repository, err error) {
	defer errdefs.Wrapf(&err, "postgres: get repository %q", name)
	return getRepository(ctx, q.db, name)
}

func getRepository(ctx context.Context, db dbtx, name string) (*meta.Repository, error) {
	return scanRepository(db.QueryRow(ctx, getRepositorySQL, name), name)
}

func scanRepository(row pgx.Row, name string) (*meta.Repository, error) {
	var r meta.Repository
	err := row.Scan(&r.ID, &r.Name, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errdefs.NotFound("repository %q not found", name)
	}
	if err != nil {
		return nil, classify(err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return &r, nil
}

// ListRepositories returns up to limit (no limit if limit <= 0) names of
// repositories holding at least one manifest, in byte order, strictly
// after `after`.
func (q *querier) ListRepositories(ctx context.Context, after string, limit int) (_ []string, err error) {
	defer errdefs.Wrapf(&err, "postgres: list repositories after %q", after)
	return queryStrings(ctx, q.db, listRepositoriesSQL, after, limitArg(limit))
}

// queryStrings runs a query returning one text column.
func queryStrings(ctx context.Context, db dbtx, query string, args ...any) ([]string, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}
