package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Tombstone records a blob whose metadata garbage collection deleted and
// whose bytes it has not yet removed from the blob store. It makes the byte
// deletion resumable: the next run finishes every tombstone first.
type Tombstone struct {
	Digest    digest.Digest
	Size      int64
	DeletedAt time.Time
	// RunID names the collection run that deleted the metadata.
	RunID string
	// Claimed is set once a sweeper is deleting the bytes; from then on a
	// new upload of the digest waits until the tombstone is gone.
	Claimed bool
}

// ClaimResult says what ClaimTombstone found.
type ClaimResult int

const (
	// ClaimGone means there was no tombstone (another sweeper finished it,
	// or a new push of the digest cleared it): nothing to delete.
	ClaimGone ClaimResult = iota
	// ClaimOK means the caller now holds the tombstone and may delete the
	// bytes, then DeleteTombstone.
	ClaimOK
	// ClaimRevived means the digest is recorded again (a new push): the
	// tombstone was removed and the bytes must stay.
	ClaimRevived
	// ClaimLeased means a live lease holds the digest (an upload is about
	// to commit it): the tombstone stays for a later run and the bytes
	// must stay for now.
	ClaimLeased
)

// Collector is an optional ability of a metadata backend: the primitives
// of online garbage collection (package gc) and of the fence between a
// sweep and a concurrent push (package registry). Both backends implement
// it on their Store and on the Querier they pass to WithTx.
//
// A blob is garbage when no manifest reference (of any repository) names
// it, no manifest has it as its config, and no live lease (expires_at after
// now) holds it.
type Collector interface {
	// GarbageBlobs returns up to limit garbage blobs with a digest strictly
	// after `after`, in digest order.
	GarbageBlobs(ctx context.Context, after digest.Digest, now time.Time, limit int) ([]Blob, error)
	// DeleteGarbageBlobs deletes, in one transaction, those of dgsts that
	// are still garbage at that moment (re-checked inside the statement),
	// with their repository links and expired leases, records a tombstone
	// for each (run runID) and returns the blobs it deleted. A digest that
	// is no longer garbage, or no longer recorded, is left alone.
	DeleteGarbageBlobs(ctx context.Context, dgsts []digest.Digest, runID string, now time.Time) ([]Blob, error)
	// ListTombstones returns up to limit tombstones with a digest strictly
	// after `after` ("" for the start), in digest order.
	ListTombstones(ctx context.Context, after digest.Digest, limit int) ([]Tombstone, error)
	// ClaimTombstone takes the tombstone of dgst for deleting its bytes if
	// the digest is still unrecorded and unleased at now (see ClaimResult).
	// Claiming a tombstone already claimed succeeds (a crashed sweeper's
	// work is finished by the next one).
	ClaimTombstone(ctx context.Context, dgst digest.Digest, now time.Time) (ClaimResult, error)
	// DeleteTombstone removes the tombstone of dgst once its bytes are
	// gone. Removing a missing tombstone is not an error.
	DeleteTombstone(ctx context.Context, dgst digest.Digest) error
	// LeaseBlobForCommit leases dgst until `until` before an upload commits
	// its bytes, unless a sweeper has claimed the digest's tombstone (its
	// bytes may be being deleted), in which case it returns ErrConflict and
	// leases nothing: wait for the tombstone to go, then try again.
	LeaseBlobForCommit(ctx context.Context, dgst digest.Digest, until time.Time) error
	// ClearTombstone removes an unclaimed tombstone of dgst as the blob is
	// recorded again; ErrConflict if the tombstone is claimed (the bytes
	// the push relied on may be gone: it must upload them again). No
	// tombstone is not an error.
	ClearTombstone(ctx context.Context, dgst digest.Digest) error
	// LinkedBlobLease returns the blob dgst if repoID may serve it (else
	// ErrNotFound) and when its lease ends (zero if none), in one read.
	LinkedBlobLease(ctx context.Context, repoID int64, dgst digest.Digest) (*Blob, time.Time, error)
	// TouchLinkedBlob leases dgst until at least `until` if repoID may
	// still serve it, atomically with that check, and returns the blob;
	// ErrNotFound (and no lease) if the link or the blob is gone.
	TouchLinkedBlob(ctx context.Context, repoID int64, dgst digest.Digest, until time.Time) (*Blob, error)
}

// CollectorOf returns the Collector of s, looking through decorators that
// implement Unwrapper (the pull-path cache), and whether s has one.
func CollectorOf(s Store) (Collector, bool) {
	for s != nil {
		if c, ok := s.(Collector); ok {
			return c, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
