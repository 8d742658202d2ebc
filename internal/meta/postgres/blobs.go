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

// PutBlob records b (CreatedAt defaults to now) unless its digest is
// recorded already, in which case the first record is kept.
func (q *querier) PutBlob(ctx context.Context, b meta.Blob) (err error) {
	defer errdefs.Wrapf(&err, "postgres: put blob %s", b.Digest)
	_, err = q.db.Exec(ctx, insertBlobSQL, string(b.Digest), b.Size, pgTimeOrNow(b.CreatedAt))
	return classify(err)
}

// GetBlob returns the record of dgst or ErrNotFound.
func (q *querier) GetBlob(ctx context.Context, dgst digest.Digest) (_ *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "postgres: get blob %s", dgst)
	return scanBlob(q.db.QueryRow(ctx, getBlobSQL, string(dgst)), dgst)
}

func scanBlob(row pgx.Row, dgst digest.Digest) (*meta.Blob, error) {
	var b meta.Blob
	err := row.Scan(&b.Digest, &b.Size, &b.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errdefs.NotFound("blob %s not found", dgst)
	}
	if err != nil {
		return nil, classify(err)
	}
	b.CreatedAt = b.CreatedAt.UTC()
	return &b, nil
}

// LinkBlob lets repoID serve dgst. ErrNotFound if the blob is not recorded
// (or the repository does not exist); linking twice is not an error. The
// link's foreign key check locks the blob row against a concurrent delete
// until the transaction ends.
func (q *querier) LinkBlob(ctx context.Context, repoID int64, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "postgres: link blob %s to repository %d", dgst, repoID)
	_, err = q.db.Exec(ctx, linkBlobSQL, repoID, string(dgst), pgTimeOrNow(time.Time{}))
	if isFKViolation(err) {
		return errdefs.NotFound("blob %s or repository %d not found", dgst, repoID)
	}
	return classify(err)
}

// GetLinkedBlob returns the record of dgst if repoID may serve it, else
// ErrNotFound.
func (q *querier) GetLinkedBlob(ctx context.Context, repoID int64, dgst digest.Digest) (_ *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "postgres: get blob %s of repository %d", dgst, repoID)
	return scanBlob(q.db.QueryRow(ctx, getLinkedBlobSQL, repoID, string(dgst)), dgst)
}

// ListBlobRepositories returns up to limit names of repositories linking
// dgst, in byte order.
func (q *querier) ListBlobRepositories(ctx context.Context, dgst digest.Digest, limit int) (_ []string, err error) {
	defer errdefs.Wrapf(&err, "postgres: repositories of blob %s", dgst)
	return queryStrings(ctx, q.db, listBlobReposSQL, string(dgst), limitArg(limit))
}

// UnlinkBlob removes the link; ErrNotFound if there was none. The blob
// record stays.
func (q *querier) UnlinkBlob(ctx context.Context, repoID int64, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "postgres: unlink blob %s from repository %d", dgst, repoID)
	tag, err := q.db.Exec(ctx, unlinkBlobSQL, repoID, string(dgst))
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("blob %s is not linked", dgst)
	}
	return nil
}

// MissingLinks returns those of dgsts that repoID may not serve, in the
// order given (a digest given twice and missing is returned twice), in one
// query.
func (q *querier) MissingLinks(ctx context.Context, repoID int64, dgsts []digest.Digest) (_ []digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "postgres: missing links of repository %d", repoID)
	return missing(ctx, q.db, missingLinksSQL, repoID, dgsts)
}

// missing runs a query taking a repository id and an array of digests and
// returning those that are absent.
func missing(ctx context.Context, db dbtx, query string, repoID int64, dgsts []digest.Digest) ([]digest.Digest, error) {
	if len(dgsts) == 0 {
		return nil, nil
	}
	return queryDigests(ctx, db, query, repoID, digestStrings(dgsts))
}

// queryDigests runs a query returning one column of digests.
func queryDigests(ctx context.Context, db dbtx, query string, args ...any) ([]digest.Digest, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[digest.Digest])
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}

func digestStrings(dgsts []digest.Digest) []string {
	out := make([]string, len(dgsts))
	for i, d := range dgsts {
		out[i] = string(d)
	}
	return out
}

// LeaseBlob pins dgst until at least until; an existing later lease is
// kept (GREATEST, in the one upsert, so concurrent leases never shorten
// each other). The blob need not be recorded yet (an upload leases what it
// is writing).
func (q *querier) LeaseBlob(ctx context.Context, dgst digest.Digest, until time.Time) (err error) {
	defer errdefs.Wrapf(&err, "postgres: lease blob %s", dgst)
	_, err = q.db.Exec(ctx, leaseBlobSQL, string(dgst), pgTime(until))
	return classify(err)
}

// BlobLease returns when the lease on dgst ends, or the zero time if there
// is none.
func (q *querier) BlobLease(ctx context.Context, dgst digest.Digest) (_ time.Time, err error) {
	defer errdefs.Wrapf(&err, "postgres: blob lease %s", dgst)
	var until time.Time
	err = q.db.QueryRow(ctx, getLeaseSQL, string(dgst)).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, classify(err)
	}
	return until.UTC(), nil
}
