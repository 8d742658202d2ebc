package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Pull says manifest Digest of repository RepositoryID was pulled at At.
type Pull struct {
	RepositoryID int64
	Digest       digest.Digest
	At           time.Time
}

// PullRecorder records manifest pulls in batches. It is an optional
// ability of a Store, found with PullRecorderOf; the SQLite and PostgreSQL
// backends have it.
type PullRecorder interface {
	// RecordPulls sets, in one transaction, the last pull time
	// (Manifest.LastPulledAt) of each manifest named in pulls to the later
	// of its stored time and the pull's At, so that it never moves
	// backwards. Pulls of manifests that no longer exist are ignored; a
	// manifest named twice takes the later time.
	RecordPulls(ctx context.Context, pulls []Pull) error
}

// PullRecorderOf returns the PullRecorder of s, looking through decorators
// that implement Unwrapper, and whether s has one.
func PullRecorderOf(s Store) (PullRecorder, bool) {
	for s != nil {
		if pr, ok := s.(PullRecorder); ok {
			return pr, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
