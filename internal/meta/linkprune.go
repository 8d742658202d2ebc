package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// BlobLink is a repository's link to a blob (the right to serve it).
type BlobLink struct {
	RepositoryID int64
	Digest       digest.Digest
}

// LinkPruner is an optional ability of a metadata backend, found with
// LinkPrunerOf: garbage collection of repository-blob links, so a
// project's stored bytes drop when it stops using a blob that another
// repository still keeps alive. Both backends implement it on their Store.
//
// A link is stale when no manifest of its repository references the blob
// (as a layer or as its config) and no live lease (expires_at after now)
// holds the blob: a blob just uploaded or mounted, or seen by a client
// about to push a manifest naming it, is leased, so its link stays.
type LinkPruner interface {
	// StaleLinks returns up to limit stale links strictly after `after`
	// (by repository ID, then digest; the zero BlobLink for the start).
	StaleLinks(ctx context.Context, after BlobLink, now time.Time, limit int) ([]BlobLink, error)
	// DeleteStaleLinks deletes, in one transaction, those of links that
	// are still stale at that moment (re-checked inside the deleting
	// statement) and returns how many it deleted.
	DeleteStaleLinks(ctx context.Context, links []BlobLink, now time.Time) (int64, error)
}

// LinkPrunerOf returns the LinkPruner of s, looking through decorators
// that implement Unwrapper, and whether s has one.
func LinkPrunerOf(s Store) (LinkPruner, bool) {
	for s != nil {
		if lp, ok := s.(LinkPruner); ok {
			return lp, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
