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

// PutBlob records b (CreatedAt defaults to now) unless its digest is
// recorded already, in which case the first record is kept.
func (q *querier) PutBlob(ctx context.Context, b meta.Blob) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: put blob %s", b.Digest)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, insertBlobSQL, string(b.Digest), b.Size, microsOrNow(b.CreatedAt))
		return classify(err)
	})
}

// GetBlob returns the record of dgst or ErrNotFound.
func (q *querier) GetBlob(ctx context.Context, dgst digest.Digest) (_ *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get blob %s", dgst)
	return scanBlob(q.read.queryRow(ctx, getBlobSQL, string(dgst)), dgst)
}

func scanBlob(row scanner, dgst digest.Digest) (*meta.Blob, error) {
	var (
		b       meta.Blob
		created int64
	)
	err := row.Scan(&b.Digest, &b.Size, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("blob %s not found", dgst)
	}
	if err != nil {
		return nil, classify(err)
	}
	b.CreatedAt = fromMicros(created)
	return &b, nil
}

// LinkBlob lets repoID serve dgst. ErrNotFound if the blob is not recorded
// (or the repository does not exist); linking twice is not an error.
func (q *querier) LinkBlob(ctx context.Context, repoID int64, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: link blob %s to repository %d", dgst, repoID)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, linkBlobSQL, repoID, string(dgst), nowMicros())
		if isFKViolation(err) {
			return errdefs.NotFound("blob %s or repository %d not found", dgst, repoID)
		}
		return classify(err)
	})
}

// GetLinkedBlob returns the record of dgst if repoID may serve it, else
// ErrNotFound.
func (q *querier) GetLinkedBlob(ctx context.Context, repoID int64, dgst digest.Digest) (_ *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get blob %s of repository %d", dgst, repoID)
	return scanBlob(q.read.queryRow(ctx, getLinkedBlobSQL, repoID, string(dgst)), dgst)
}

// ListBlobRepositories returns up to limit names of repositories linking
// dgst, in byte order.
func (q *querier) ListBlobRepositories(ctx context.Context, dgst digest.Digest, limit int) (_ []string, err error) {
	defer errdefs.Wrapf(&err, "sqlite: repositories of blob %s", dgst)
	rows, err := q.read.query(ctx, listBlobReposSQL, string(dgst), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanStrings(rows)
}

// UnlinkBlob removes the link; ErrNotFound if there was none. The blob
// record stays.
func (q *querier) UnlinkBlob(ctx context.Context, repoID int64, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: unlink blob %s from repository %d", dgst, repoID)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, unlinkBlobSQL, repoID, string(dgst)))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("blob %s is not linked", dgst)
		}
		return nil
	})
}

// MissingLinks returns those of dgsts that repoID may not serve, in the
// order given (a digest given twice and missing is returned twice), in one
// query.
func (q *querier) MissingLinks(ctx context.Context, repoID int64, dgsts []digest.Digest) (_ []digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: missing links of repository %d", repoID)
	return missing(ctx, q.read, missingLinksSQL, repoID, dgsts)
}

// missing runs a query taking a JSON array of digests and a repository id
// and returning the digests that are absent.
func missing(ctx context.Context, r runner, query string, repoID int64, dgsts []digest.Digest) ([]digest.Digest, error) {
	if len(dgsts) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(dgsts)
	if err != nil {
		return nil, errdefs.Invalid("encode digests: %v", err)
	}
	rows, err := r.query(ctx, query, string(list), repoID)
	if err != nil {
		return nil, classify(err)
	}
	return scanDigests(rows)
}

// scanDigests reads a one-column result of digests and closes rows.
func scanDigests(rows *sql.Rows) ([]digest.Digest, error) {
	names, err := scanStrings(rows)
	if err != nil {
		return nil, err
	}
	out := make([]digest.Digest, len(names))
	for i, n := range names {
		out[i] = digest.Digest(n)
	}
	return out, nil
}

// LeaseBlob pins dgst until at least until; an existing later lease is
// kept. The blob need not be recorded yet (an upload leases what it is
// writing).
func (q *querier) LeaseBlob(ctx context.Context, dgst digest.Digest, until time.Time) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: lease blob %s", dgst)
	return q.write(ctx, func(w runner) error {
		_, err := w.exec(ctx, leaseBlobSQL, string(dgst), micros(until))
		return classify(err)
	})
}

// BlobLease returns when the lease on dgst ends, or the zero time if there
// is none.
func (q *querier) BlobLease(ctx context.Context, dgst digest.Digest) (_ time.Time, err error) {
	defer errdefs.Wrapf(&err, "sqlite: blob lease %s", dgst)
	var until int64
	err = q.read.queryRow(ctx, getLeaseSQL, string(dgst)).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, classify(err)
	}
	return fromMicros(until), nil
}
