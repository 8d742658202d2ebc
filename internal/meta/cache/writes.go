package cache

import (
	"context"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// PutTag sets the tag and invalidates it.
func (c *Store) PutTag(ctx context.Context, repoID int64, name string, dgst digest.Digest) (digest.Digest, error) {
	defer c.Invalidate(meta.Change{RepositoryID: repoID, Tag: name})
	return c.Store.PutTag(ctx, repoID, name, dgst)
}

// DeleteTag deletes the tag and invalidates it.
func (c *Store) DeleteTag(ctx context.Context, repoID int64, name string) (digest.Digest, error) {
	defer c.Invalidate(meta.Change{RepositoryID: repoID, Tag: name})
	return c.Store.DeleteTag(ctx, repoID, name)
}

// DeleteManifest deletes the manifest and invalidates it.
func (c *Store) DeleteManifest(ctx context.Context, repoID int64, dgst digest.Digest) error {
	defer c.Invalidate(meta.Change{RepositoryID: repoID, Digest: dgst})
	return c.Store.DeleteManifest(ctx, repoID, dgst)
}

// WithTx runs fn in a transaction of the underlying store, records what its
// writes change, and invalidates that once the transaction ended (committed
// or not: invalidating too much only costs a database read).
func (c *Store) WithTx(ctx context.Context, fn func(tx meta.Querier) error) error {
	var rec []meta.Change
	defer func() {
		if len(rec) > 0 {
			c.Invalidate(rec...)
		}
	}()
	return c.Store.WithTx(ctx, func(tx meta.Querier) error {
		rec = rec[:0] // a backend may run fn again
		return fn(&txQuerier{Querier: tx, rec: &rec})
	})
}

// txQuerier records the invalidations of writes inside a transaction.
// Reads inside a transaction go to the database, never the cache: they
// must see the transaction's own writes.
type txQuerier struct {
	meta.Querier
	rec *[]meta.Change
}

func (q *txQuerier) PutTag(ctx context.Context, repoID int64, name string, dgst digest.Digest) (digest.Digest, error) {
	*q.rec = append(*q.rec, meta.Change{RepositoryID: repoID, Tag: name})
	return q.Querier.PutTag(ctx, repoID, name, dgst)
}

func (q *txQuerier) DeleteTag(ctx context.Context, repoID int64, name string) (digest.Digest, error) {
	*q.rec = append(*q.rec, meta.Change{RepositoryID: repoID, Tag: name})
	return q.Querier.DeleteTag(ctx, repoID, name)
}

func (q *txQuerier) DeleteManifest(ctx context.Context, repoID int64, dgst digest.Digest) error {
	*q.rec = append(*q.rec, meta.Change{RepositoryID: repoID, Digest: dgst})
	return q.Querier.DeleteManifest(ctx, repoID, dgst)
}
