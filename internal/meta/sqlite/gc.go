package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Garbage collection primitives (meta.Collector). SQLite runs one write
// transaction at a time, so every check made inside a write transaction
// holds until it commits: the fences need no locks of their own.

var (
	_ meta.Collector = (*Store)(nil)
	_ meta.Collector = (*querier)(nil)
)

// garbageCond is true for a blob b that no manifest names (as a reference
// or as its config) and no lease live at the second-to-last parameter
// holds. It is the one definition of garbage, used by the mark query and
// re-checked by the delete.
const garbageCond = `NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.child_digest = b.digest AND r.kind = 1)
	AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.config_digest = b.digest)
	AND NOT EXISTS (SELECT 1 FROM blob_leases l WHERE l.digest = b.digest AND l.expires_at > ?)`

var (
	garbageBlobsSQL = stmt(`SELECT b.digest, b.size, b.created_at FROM blobs b
		WHERE b.digest > ? AND ` + garbageCond + ` ORDER BY b.digest LIMIT ?`)
	stillGarbageSQL = stmt(`SELECT b.digest, b.size, b.created_at FROM blobs b
		JOIN json_each(?) j ON j.value = b.digest
		WHERE ` + garbageCond + ` ORDER BY b.digest`)
	deleteLinksOfSQL   = stmt(`DELETE FROM repository_blobs WHERE digest IN (SELECT value FROM json_each(?))`)
	deleteOldLeasesSQL = stmt(`DELETE FROM blob_leases
		WHERE digest IN (SELECT value FROM json_each(?)) AND expires_at <= ?`)
	deleteBlobsSQL  = stmt(`DELETE FROM blobs WHERE digest IN (SELECT value FROM json_each(?))`)
	putTombstoneSQL = stmt(`INSERT INTO gc_tombstones (digest, size, deleted_at, run_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET size = excluded.size, deleted_at = excluded.deleted_at,
		run_id = excluded.run_id, claimed_at = NULL`)
	listTombstonesSQL = stmt(`SELECT digest, size, deleted_at, run_id, claimed_at FROM gc_tombstones
		WHERE digest > ? ORDER BY digest LIMIT ?`)
	getTombstoneSQL    = stmt(`SELECT claimed_at FROM gc_tombstones WHERE digest = ?`)
	claimTombstoneSQL  = stmt(`UPDATE gc_tombstones SET claimed_at = ? WHERE digest = ?`)
	deleteTombstoneSQL = stmt(`DELETE FROM gc_tombstones WHERE digest = ?`)
	blobExistsSQL      = stmt(`SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = ?)`)
	liveLeaseSQL       = stmt(`SELECT EXISTS (SELECT 1 FROM blob_leases WHERE digest = ? AND expires_at > ?)`)
	linkedBlobLeaseSQL = stmt(`SELECT b.digest, b.size, b.created_at, COALESCE(l.expires_at, 0)
		FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
		LEFT JOIN blob_leases l ON l.digest = rb.digest
		WHERE rb.repository_id = ? AND rb.digest = ?`)
)

// GarbageBlobs returns up to limit garbage blobs after `after`, in digest
// order.
func (q *querier) GarbageBlobs(ctx context.Context, after digest.Digest, now time.Time, limit int) (_ []meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "sqlite: garbage blobs after %q", after)
	rows, err := q.read.query(ctx, garbageBlobsSQL, string(after), micros(now), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanBlobs(rows)
}

// scanBlobs reads digest, size, created_at rows and closes rows.
func scanBlobs(rows *sql.Rows) ([]meta.Blob, error) {
	defer rows.Close()
	var out []meta.Blob
	for rows.Next() {
		var (
			b       meta.Blob
			created int64
		)
		if err := rows.Scan(&b.Digest, &b.Size, &created); err != nil {
			return nil, classify(err)
		}
		b.CreatedAt = fromMicros(created)
		out = append(out, b)
	}
	return out, classify(rows.Err())
}

// DeleteGarbageBlobs deletes those of dgsts still garbage, with their links
// and expired leases, and tombstones them, in one transaction.
func (q *querier) DeleteGarbageBlobs(ctx context.Context, dgsts []digest.Digest, runID string, now time.Time) (deleted []meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete %d garbage blobs", len(dgsts))
	if len(dgsts) == 0 {
		return nil, nil
	}
	err = q.write(ctx, func(w runner) error {
		deleted = nil
		list, err := json.Marshal(dgsts)
		if err != nil {
			return errdefs.Invalid("encode digests: %v", err)
		}
		rows, err := w.query(ctx, stillGarbageSQL, string(list), micros(now))
		if err != nil {
			return classify(err)
		}
		if deleted, err = scanBlobs(rows); err != nil || len(deleted) == 0 {
			return err
		}
		gone := make([]digest.Digest, len(deleted))
		for i, b := range deleted {
			gone[i] = b.Digest
		}
		if list, err = json.Marshal(gone); err != nil {
			return errdefs.Invalid("encode digests: %v", err)
		}
		for _, st := range []struct {
			query string
			args  []any
		}{
			{deleteLinksOfSQL, []any{string(list)}},
			{deleteOldLeasesSQL, []any{string(list), micros(now)}},
			{deleteBlobsSQL, []any{string(list)}},
		} {
			if _, err := w.exec(ctx, st.query, st.args...); err != nil {
				return classify(err)
			}
		}
		for _, b := range deleted {
			if _, err := w.exec(ctx, putTombstoneSQL, string(b.Digest), b.Size, micros(now), runID); err != nil {
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
	defer errdefs.Wrapf(&err, "sqlite: list tombstones")
	rows, err := q.read.query(ctx, listTombstonesSQL, string(after), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.Tombstone
	for rows.Next() {
		var (
			ts      meta.Tombstone
			deleted int64
			claimed sql.NullInt64
		)
		if err := rows.Scan(&ts.Digest, &ts.Size, &deleted, &ts.RunID, &claimed); err != nil {
			return nil, classify(err)
		}
		ts.DeletedAt, ts.Claimed = fromMicros(deleted), claimed.Valid
		out = append(out, ts)
	}
	return out, classify(rows.Err())
}

// ClaimTombstone takes the tombstone of dgst for deleting its bytes; see
// meta.ClaimResult.
func (q *querier) ClaimTombstone(ctx context.Context, dgst digest.Digest, now time.Time) (res meta.ClaimResult, err error) {
	defer errdefs.Wrapf(&err, "sqlite: claim tombstone %s", dgst)
	err = q.write(ctx, func(w runner) error {
		var claimed sql.NullInt64
		err := w.queryRow(ctx, getTombstoneSQL, string(dgst)).Scan(&claimed)
		if errors.Is(err, sql.ErrNoRows) {
			res = meta.ClaimGone
			return nil
		}
		if err != nil {
			return classify(err)
		}
		var recorded, leased bool
		if err := w.queryRow(ctx, blobExistsSQL, string(dgst)).Scan(&recorded); err != nil {
			return classify(err)
		}
		if recorded {
			res = meta.ClaimRevived
			_, err := w.exec(ctx, deleteTombstoneSQL, string(dgst))
			return classify(err)
		}
		if err := w.queryRow(ctx, liveLeaseSQL, string(dgst), micros(now)).Scan(&leased); err != nil {
			return classify(err)
		}
		if leased && !claimed.Valid {
			res = meta.ClaimLeased
			return nil
		}
		// A claimed tombstone stays claimed even if a lease appeared since
		// (LeaseBlobForCommit refuses to lease it, so none can): the bytes
		// may be half gone.
		res = meta.ClaimOK
		_, err = w.exec(ctx, claimTombstoneSQL, micros(now), string(dgst))
		return classify(err)
	})
	return res, err
}

// DeleteTombstone removes the tombstone of dgst, if any.
func (q *querier) DeleteTombstone(ctx context.Context, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete tombstone %s", dgst)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, deleteTombstoneSQL, string(dgst))
		return classify(err)
	})
}

// LeaseBlobForCommit leases dgst unless its tombstone is claimed
// (ErrConflict).
func (q *querier) LeaseBlobForCommit(ctx context.Context, dgst digest.Digest, until time.Time) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: lease blob %s for commit", dgst)
	return q.write(ctx, func(w runner) error {
		if err := claimedConflict(ctx, w, dgst); err != nil {
			return err
		}
		_, err := w.exec(ctx, leaseBlobSQL, string(dgst), micros(until))
		return classify(err)
	})
}

// claimedConflict returns ErrConflict if the tombstone of dgst is claimed.
func claimedConflict(ctx context.Context, w runner, dgst digest.Digest) error {
	var claimed sql.NullInt64
	err := w.queryRow(ctx, getTombstoneSQL, string(dgst)).Scan(&claimed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return classify(err)
	}
	if claimed.Valid {
		return errdefs.Conflict("blob %s is being removed by garbage collection; upload it again in a moment", dgst)
	}
	return nil
}

// ClearTombstone removes an unclaimed tombstone of dgst; ErrConflict if it
// is claimed.
func (q *querier) ClearTombstone(ctx context.Context, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: clear tombstone %s", dgst)
	return q.write(ctx, func(w runner) error {
		if err := claimedConflict(ctx, w, dgst); err != nil {
			return err
		}
		_, err := w.exec(ctx, deleteTombstoneSQL, string(dgst))
		return classify(err)
	})
}

// LinkedBlobLease returns the blob dgst of repoID and when its lease ends,
// in one read.
func (q *querier) LinkedBlobLease(ctx context.Context, repoID int64, dgst digest.Digest) (_ *meta.Blob, _ time.Time, err error) {
	defer errdefs.Wrapf(&err, "sqlite: blob %s of repository %d with lease", dgst, repoID)
	return scanBlobLease(q.read.queryRow(ctx, linkedBlobLeaseSQL, repoID, string(dgst)), dgst)
}

func scanBlobLease(row scanner, dgst digest.Digest) (*meta.Blob, time.Time, error) {
	var (
		b              meta.Blob
		created, until int64
	)
	err := row.Scan(&b.Digest, &b.Size, &created, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, errdefs.NotFound("blob %s not found", dgst)
	}
	if err != nil {
		return nil, time.Time{}, classify(err)
	}
	b.CreatedAt = fromMicros(created)
	var end time.Time
	if until != 0 {
		end = fromMicros(until)
	}
	return &b, end, nil
}

// TouchLinkedBlob leases dgst until at least `until` if repoID still
// links it, in one transaction.
func (q *querier) TouchLinkedBlob(ctx context.Context, repoID int64, dgst digest.Digest, until time.Time) (b *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "sqlite: touch blob %s of repository %d", dgst, repoID)
	err = q.write(ctx, func(w runner) error {
		var err error
		if b, err = scanBlob(w.queryRow(ctx, getLinkedBlobSQL, repoID, string(dgst)), dgst); err != nil {
			return err
		}
		_, err = w.exec(ctx, leaseBlobSQL, string(dgst), micros(until))
		return classify(err)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}
