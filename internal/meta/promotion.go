package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Promotion records that an artifact was promoted: the manifest Digest,
// named in SourceRepository by SourceReference (a tag or the digest, as
// the caller gave it), was made available in DestinationRepository under
// Tag, with its index children and referrers.
type Promotion struct {
	ID     int64
	Digest digest.Digest
	// SourceRepository and DestinationRepository are full repository
	// names; SourceProject and DestinationProject the projects they belong
	// to (the caller derives them; the store keeps them for filtering).
	SourceRepository      string
	SourceProject         string
	SourceReference       string
	DestinationRepository string
	DestinationProject    string
	Tag                   string
	// PromotedBy names who promoted it ("" when unknown).
	PromotedBy string
	PromotedAt time.Time
	// Children counts the index children (recursively) and Referrers the
	// referrers (signatures, SBOMs, attestations, recursively) that came
	// along.
	Children  int
	Referrers int
}

// PromotionQuery selects promotions for ListPromotions. Empty fields
// select everything.
type PromotionQuery struct {
	// Digest keeps the promotions of this manifest only.
	Digest digest.Digest
	// Project keeps the promotions whose source or destination repository
	// is in this project.
	Project string
	// Before keeps the promotions with an ID below it (the paging cursor:
	// the ID of the last entry of the previous page); 0 starts at the
	// newest.
	Before int64
	// Limit caps the number returned; <= 0 means no limit.
	Limit int
}

// PromotionWriter is the write side of promotions. A backend with a
// PromotionStore implements it on its Store and on the Querier its WithTx
// passes to fn, so that a promotion's record and tag time commit with the
// manifests and tag it copies.
type PromotionWriter interface {
	// PutPromotion stores a new record p and sets p.ID and p.PromotedAt
	// (now when zero, else as given, at the precision the store keeps).
	// IDs grow with each record added.
	PutPromotion(ctx context.Context, p *Promotion) error
	// TouchTag sets the time tag name of repoID was last set (Tag.UpdatedAt)
	// to at, whatever digest it points at, without recording a history
	// event: a promotion to the digest the tag already has still makes the
	// tag as young as a fresh push. ErrNotFound if the tag does not exist.
	TouchTag(ctx context.Context, repoID int64, name string, at time.Time) error
}

// PromotionStore stores promotion records. It is an optional ability of
// a backend Store, found with PromotionOf; the SQLite and PostgreSQL
// backends have it. Its WithTx passes fn a Querier that is also a
// PromotionWriter.
type PromotionStore interface {
	Store
	PromotionWriter
	// ListPromotions returns the promotions q selects, newest (highest ID)
	// first.
	ListPromotions(ctx context.Context, q PromotionQuery) ([]Promotion, error)
}

// PromotionOf returns the backend beneath s (looking through decorators
// that implement Unwrapper, such as the pull-path cache) that is a
// PromotionStore, and whether there is one. Writes made through its WithTx
// bypass the decorators: the caller tells them what changed (see
// Invalidator).
func PromotionOf(s Store) (PromotionStore, bool) {
	for s != nil {
		if ps, ok := s.(PromotionStore); ok {
			return ps, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}

// Invalidator is a decorator that caches what a store returns (the
// pull-path cache): Invalidate makes it forget the given changes.
type Invalidator interface {
	Invalidate(changes ...Change)
}

// InvalidateAbove tells every decorator between s and the backend `below`
// (found with an XxxOf finder, exclusive) that implements Invalidator about
// changes committed directly through the backend.
func InvalidateAbove(s, below Store, changes ...Change) {
	for s != nil && s != below {
		if inv, ok := s.(Invalidator); ok {
			inv.Invalidate(changes...)
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return
		}
		s = u.Unwrap()
	}
}
