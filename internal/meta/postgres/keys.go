package postgres

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

// Signing keys.
const (
	insertSigningKeySQL = `INSERT INTO signing_keys (id, algorithm, private_key, created_at, retired_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`
	// The key is retired only once; the second column tells a missing key
	// (false) from one retired before.
	retireSigningKeySQL = `WITH u AS (
			UPDATE signing_keys SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL RETURNING 1
		)
		SELECT (SELECT count(*) FROM u), EXISTS (SELECT 1 FROM signing_keys WHERE id = $2)`
	deleteSigningKeySQL = `DELETE FROM signing_keys WHERE id = $1`
	listSigningKeysSQL  = `SELECT id, algorithm, private_key, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC, id DESC`
)

// PutSigningKey stores k (CreatedAt defaults to now); ErrAlreadyExists if
// the id is taken, ErrInvalid without a private key.
func (q *querier) PutSigningKey(ctx context.Context, k meta.SigningKey) (err error) {
	defer errdefs.Wrapf(&err, "postgres: put signing key %q", k.ID)
	if len(k.Private) == 0 {
		return errdefs.Invalid("signing key %q has no private key", k.ID)
	}
	tag, err := q.db.Exec(ctx, insertSigningKeySQL, k.ID, k.Algorithm, k.Private,
		pgTimeOrNow(k.CreatedAt), nullTime(k.RetiredAt))
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.AlreadyExists("signing key %q already exists", k.ID)
	}
	return nil
}

// RetireSigningKey sets the retirement time of key id to at unless it is
// retired already (the first retirement time stays); ErrNotFound if there
// is no such key.
func (q *querier) RetireSigningKey(ctx context.Context, id string, at time.Time) (err error) {
	defer errdefs.Wrapf(&err, "postgres: retire signing key %q", id)
	var (
		n      int64
		exists bool
	)
	if err := q.db.QueryRow(ctx, retireSigningKeySQL, pgTimeOrNow(at), id).Scan(&n, &exists); err != nil {
		return classify(err)
	}
	if n == 0 && !exists {
		return errdefs.NotFound("signing key %q not found", id)
	}
	return nil
}

// DeleteSigningKey removes key id; ErrNotFound if absent.
func (q *querier) DeleteSigningKey(ctx context.Context, id string) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete signing key %q", id)
	tag, err := q.db.Exec(ctx, deleteSigningKeySQL, id)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("signing key %q not found", id)
	}
	return nil
}

func scanSigningKey(row pgx.Row) (*meta.SigningKey, error) {
	var (
		k       meta.SigningKey
		retired *time.Time
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.Private, &k.CreatedAt, &retired); err != nil {
		return nil, err
	}
	k.CreatedAt, k.RetiredAt = k.CreatedAt.UTC(), fromNullTime(retired)
	return &k, nil
}

// ListSigningKeys returns every key, newest (by CreatedAt) first.
func (q *querier) ListSigningKeys(ctx context.Context) (_ []meta.SigningKey, err error) {
	defer errdefs.Wrapf(&err, "postgres: list signing keys")
	return queryAll(ctx, q.db, scanSigningKey, listSigningKeysSQL)
}
