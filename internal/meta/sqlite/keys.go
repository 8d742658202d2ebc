package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// Signing keys.
var (
	insertSigningKeySQL = stmt(`INSERT INTO signing_keys (id, algorithm, private_key, created_at,
		retired_at) VALUES (?, ?, ?, ?, ?)`)
	retireSigningKeySQL = stmt(`UPDATE signing_keys SET retired_at = ?
		WHERE id = ? AND retired_at IS NULL`)
	signingKeyExistsSQL = stmt(`SELECT EXISTS (SELECT 1 FROM signing_keys WHERE id = ?)`)
	deleteSigningKeySQL = stmt(`DELETE FROM signing_keys WHERE id = ?`)
	listSigningKeysSQL  = stmt(`SELECT id, algorithm, private_key, created_at, retired_at
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
)

// PutSigningKey stores k (CreatedAt defaults to now); ErrAlreadyExists if
// the id is taken, ErrInvalid without a private key.
func (q *querier) PutSigningKey(ctx context.Context, k meta.SigningKey) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: put signing key %q", k.ID)
	if len(k.Private) == 0 {
		return errdefs.Invalid("signing key %q has no private key", k.ID)
	}
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, insertSigningKeySQL, k.ID, k.Algorithm, k.Private,
			microsOrNow(k.CreatedAt), nullMicros(k.RetiredAt))
		if isUniqueViolation(err) {
			return errdefs.AlreadyExists("signing key %q already exists", k.ID)
		}
		return classify(err)
	})
}

// RetireSigningKey sets the retirement time of key id to at unless it is
// retired already (the first retirement time stays); ErrNotFound if there
// is no such key.
func (q *querier) RetireSigningKey(ctx context.Context, id string, at time.Time) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: retire signing key %q", id)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, retireSigningKeySQL, microsOrNow(at), id))
		if err != nil || n == 1 {
			return classify(err)
		}
		var exists bool
		if err := w.queryRow(ctx, signingKeyExistsSQL, id).Scan(&exists); err != nil {
			return classify(err)
		}
		if !exists {
			return errdefs.NotFound("signing key %q not found", id)
		}
		return nil
	})
}

// DeleteSigningKey removes key id; ErrNotFound if absent.
func (q *querier) DeleteSigningKey(ctx context.Context, id string) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete signing key %q", id)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteSigningKeySQL, id))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("signing key %q not found", id)
		}
		return nil
	})
}

func scanSigningKey(row scanner) (*meta.SigningKey, error) {
	var (
		k       meta.SigningKey
		created int64
		retired sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.Private, &created, &retired); err != nil {
		return nil, err
	}
	k.CreatedAt, k.RetiredAt = fromMicros(created), fromNullMicros(retired)
	return &k, nil
}

// ListSigningKeys returns every key, newest (by CreatedAt) first.
func (q *querier) ListSigningKeys(ctx context.Context) (_ []meta.SigningKey, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list signing keys")
	rows, err := q.read.query(ctx, listSigningKeysSQL)
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanSigningKey)
}
