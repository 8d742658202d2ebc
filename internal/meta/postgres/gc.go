package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

// Garbage collection primitives (meta.Collector).
//
// Fences under READ COMMITTED: a statement sees what committed before it
// started, so each check that must hold until commit first takes a lock the
// racing writer also takes, and checks in a later statement (a fresh
// snapshot). DeleteGarbageBlobs locks the candidate blob rows FOR UPDATE
// (a link or mount holds a FOR KEY SHARE lock on the row through its
// foreign key, a touch FOR SHARE); the tombstone claim and the lease an
// upload takes before committing its bytes both take a per-digest advisory
// transaction lock.

var (
	_ meta.Collector = (*Store)(nil)
	_ meta.Collector = (*querier)(nil)
)

// garbageCond is true for a blob b that no manifest names (as a reference
// or as its config) and no lease live at $2 holds.
const garbageCond = `NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.child_digest = b.digest AND r.kind = 1)
	AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.config_digest = b.digest)
	AND NOT EXISTS (SELECT 1 FROM blob_leases l WHERE l.digest = b.digest AND l.expires_at > $2)`

const (
	garbageBlobsSQL = `SELECT b.digest, b.size, b.created_at FROM blobs b
		WHERE b.digest > $1 AND ` + garbageCond + ` ORDER BY b.digest LIMIT $3`
	lockBlobsSQL = `SELECT b.digest FROM blobs b WHERE b.digest = ANY($1::text[])
		ORDER BY b.digest FOR UPDATE`
	stillGarbageSQL = `SELECT b.digest, b.size, b.created_at FROM blobs b
		WHERE b.digest = ANY($1::text[]) AND ` + garbageCond + ` ORDER BY b.digest`
	deleteLinksOfSQL   = `DELETE FROM repository_blobs WHERE digest = ANY($1::text[])`
	deleteOldLeasesSQL = `DELETE FROM blob_leases WHERE digest = ANY($1::text[]) AND expires_at <= $2`
	deleteBlobsSQL     = `DELETE FROM blobs WHERE digest = ANY($1::text[])`
	putTombstonesSQL   = `INSERT INTO gc_tombstones (digest, size, deleted_at, run_id)
		SELECT d, s, $3, $4 FROM unnest($1::text[], $2::bigint[]) AS t (d, s)
		ON CONFLICT (digest) DO UPDATE SET size = excluded.size, deleted_at = excluded.deleted_at,
		run_id = excluded.run_id, claimed_at = NULL`
	listTombstonesSQL = `SELECT digest, size, deleted_at, run_id, claimed_at IS NOT NULL
		FROM gc_tombstones WHERE digest > $1 ORDER BY digest LIMIT $2`
	digestLockSQL      = `SELECT pg_advisory_xact_lock(hashtextextended('berth-gc:' || $1, 0))`
	getTombstoneSQL    = `SELECT claimed_at IS NOT NULL FROM gc_tombstones WHERE digest = $1 FOR UPDATE`
	claimTombstoneSQL  = `UPDATE gc_tombstones SET claimed_at = $2 WHERE digest = $1`
	deleteTombstoneSQL = `DELETE FROM gc_tombstones WHERE digest = $1`
	blobStateSQL       = `SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1),
		EXISTS (SELECT 1 FROM blob_leases WHERE digest = $1 AND expires_at > $2)`
	linkedBlobLeaseSQL = `SELECT b.digest, b.size, b.created_at, l.expires_at
		FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
		LEFT JOIN blob_leases l ON l.digest = rb.digest
		WHERE rb.repository_id = $1 AND rb.digest = $2`
	lockLinkedBlobSQL = `SELECT b.digest, b.size, b.created_at
		FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
		WHERE rb.repository_id = $1 AND rb.digest = $2 FOR SHARE`
)

// beginner is what both the pool and a transaction offer to start a
// transaction (a savepoint inside one).
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// atomic runs fn in a transaction of its own, or in a savepoint of the
// current one, so a primitive of several statements is atomic either way.
func (q *querier) atomic(ctx context.Context, fn func(db dbtx) error) error {
	b, ok := q.db.(beginner)
	if !ok {
		return fn(q.db)
	}
	tx, err := b.Begin(ctx)
	if err != nil {
		return classify(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	return classify(tx.Commit(ctx))
}

// GarbageBlobs returns up to limit garbage blobs after `after`, in digest
// order.
func (q *querier) GarbageBlobs(ctx context.Context, after digest.Digest, now time.Time, limit int) (_ []meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "postgres: garbage blobs after %q", after)
	rows, err := q.db.Query(ctx, garbageBlobsSQL, string(after), pgTime(now), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanBlobs(rows)
}

func scanBlobs(rows pgx.Rows) ([]meta.Blob, error) {
	defer rows.Close()
	var out []meta.Blob
	for rows.Next() {
		var b meta.Blob
		if err := rows.Scan(&b.Digest, &b.Size, &b.CreatedAt); err != nil {
			return nil, classify(err)
		}
		b.CreatedAt = b.CreatedAt.UTC()
		out = append(out, b)
	}
	return out, classify(rows.Err())
}

// DeleteGarbageBlobs locks the candidates, deletes those still garbage
// with their links and expired leases, and tombstones them, in one
// transaction.
func (q *querier) DeleteGarbageBlobs(ctx context.Context, dgsts []digest.Digest, runID string, now time.Time) (deleted []meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "postgres: delete %d garbage blobs", len(dgsts))
	if len(dgsts) == 0 {
		return nil, nil
	}
	list := digestStrings(dgsts)
	err = q.atomic(ctx, func(db dbtx) error {
		deleted = nil
		if _, err := db.Exec(ctx, lockBlobsSQL, list); err != nil {
			return classify(err)
		}
		rows, err := db.Query(ctx, stillGarbageSQL, list, pgTime(now))
		if err != nil {
			return classify(err)
		}
		if deleted, err = scanBlobs(rows); err != nil || len(deleted) == 0 {
			return err
		}
		gone := make([]string, len(deleted))
		sizes := make([]int64, len(deleted))
		for i, b := range deleted {
			gone[i], sizes[i] = string(b.Digest), b.Size
		}
		for _, st := range []struct {
			query string
			args  []any
		}{
			{deleteLinksOfSQL, []any{gone}},
			{deleteOldLeasesSQL, []any{gone, pgTime(now)}},
			{deleteBlobsSQL, []any{gone}},
			{putTombstonesSQL, []any{gone, sizes, pgTime(now), runID}},
		} {
			if _, err := db.Exec(ctx, st.query, st.args...); err != nil {
				return classify(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// ListTombstones returns up to limit tombstones after `after`, in digest
// order.
func (q *querier) ListTombstones(ctx context.Context, after digest.Digest, limit int) (_ []meta.Tombstone, err error) {
	defer errdefs.Wrapf(&err, "postgres: list tombstones")
	rows, err := q.db.Query(ctx, listTombstonesSQL, string(after), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.Tombstone
	for rows.Next() {
		var ts meta.Tombstone
		if err := rows.Scan(&ts.Digest, &ts.Size, &ts.DeletedAt, &ts.RunID, &ts.Claimed); err != nil {
			return nil, classify(err)
		}
		ts.DeletedAt = ts.DeletedAt.UTC()
		out = append(out, ts)
	}
	return out, classify(rows.Err())
}

// tombstoneState takes the digest's advisory lock and reads its tombstone:
// exists and claimed.
func tombstoneState(ctx context.Context, db dbtx, dgst digest.Digest) (exists, claimed bool, err error) {
	if _, err := db.Exec(ctx, digestLockSQL, string(dgst)); err != nil {
		return false, false, classify(err)
	}
	err = db.QueryRow(ctx, getTombstoneSQL, string(dgst)).Scan(&claimed)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, classify(err)
	}
	return true, claimed, nil
}

// ClaimTombstone takes the tombstone of dgst for deleting its bytes; see
// meta.ClaimResult.
func (q *querier) ClaimTombstone(ctx context.Context, dgst digest.Digest, now time.Time) (res meta.ClaimResult, err error) {
	defer errdefs.Wrapf(&err, "postgres: claim tombstone %s", dgst)
	err = q.atomic(ctx, func(db dbtx) error {
		exists, claimed, err := tombstoneState(ctx, db, dgst)
		if err != nil || !exists {
			res = meta.ClaimGone
			return err
		}
		var recorded, leased bool
		if err := db.QueryRow(ctx, blobStateSQL, string(dgst), pgTime(now)).Scan(&recorded, &leased); err != nil {
			return classify(err)
		}
		switch {
		case recorded:
			res = meta.ClaimRevived
			_, err = db.Exec(ctx, deleteTombstoneSQL, string(dgst))
		case leased && !claimed:
			res = meta.ClaimLeased
		default:
			res = meta.ClaimOK
			_, err = db.Exec(ctx, claimTombstoneSQL, string(dgst), pgTime(now))
		}
		return classify(err)
	})
	return res, err
}

// DeleteTombstone removes the tombstone of dgst, if any.
func (q *querier) DeleteTombstone(ctx context.Context, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete tombstone %s", dgst)
	_, err = q.db.Exec(ctx, deleteTombstoneSQL, string(dgst))
	return classify(err)
}

// LeaseBlobForCommit leases dgst unless its tombstone is claimed
// (ErrConflict).
func (q *querier) LeaseBlobForCommit(ctx context.Context, dgst digest.Digest, until time.Time) (err error) {
	defer errdefs.Wrapf(&err, "postgres: lease blob %s for commit", dgst)
	return q.atomic(ctx, func(db dbtx) error {
		if _, claimed, err := tombstoneState(ctx, db, dgst); err != nil || claimed {
			if err == nil {
				err = claimedError(dgst)
			}
			return err
		}
		_, err := db.Exec(ctx, leaseBlobSQL, string(dgst), pgTime(until))
		return classify(err)
	})
}

func claimedError(dgst digest.Digest) error {
	return errdefs.Conflict("blob %s is being removed by garbage collection; upload it again in a moment", dgst)
}

// ClearTombstone removes an unclaimed tombstone of dgst; ErrConflict if it
// is claimed.
func (q *querier) ClearTombstone(ctx context.Context, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "postgres: clear tombstone %s", dgst)
	return q.atomic(ctx, func(db dbtx) error {
		exists, claimed, err := tombstoneState(ctx, db, dgst)
		switch {
		case err != nil || !exists:
			return err
		case claimed:
			return claimedError(dgst)
		}
		_, err = db.Exec(ctx, deleteTombstoneSQL, string(dgst))
		return classify(err)
	})
}

// LinkedBlobLease returns the blob dgst of repoID and when its lease ends,
// in one read.
func (q *querier) LinkedBlobLease(ctx context.Context, repoID int64, dgst digest.Digest) (_ *meta.Blob, _ time.Time, err error) {
	defer errdefs.Wrapf(&err, "postgres: blob %s of repository %d with lease", dgst, repoID)
	var (
		b     meta.Blob
		until *time.Time
	)
	err = q.db.QueryRow(ctx, linkedBlobLeaseSQL, repoID, string(dgst)).Scan(&b.Digest, &b.Size, &b.CreatedAt, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, errdefs.NotFound("blob %s not found", dgst)
	}
	if err != nil {
		return nil, time.Time{}, classify(err)
	}
	b.CreatedAt = b.CreatedAt.UTC()
	var end time.Time
	if until != nil {
		end = until.UTC()
	}
	return &b, end, nil
}

// TouchLinkedBlob locks the blob row of repoID's link (FOR SHARE, so a
// concurrent DeleteGarbageBlobs waits and then sees the lease) and leases
// it until at least `until`.
func (q *querier) TouchLinkedBlob(ctx context.Context, repoID int64, dgst digest.Digest, until time.Time) (b *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "postgres: touch blob %s of repository %d", dgst, repoID)
	err = q.atomic(ctx, func(db dbtx) error {
		var err error
		if b, err = scanBlob(db.QueryRow(ctx, lockLinkedBlobSQL, repoID, string(dgst)), dgst); err != nil {
			return err
		}
		_, err = db.Exec(ctx, leaseBlobSQL, string(dgst), pgTime(until))
		return classify(err)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}
