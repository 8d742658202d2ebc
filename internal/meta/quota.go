package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Quota is the storage quota of a project. A zero limit is no limit.
type Quota struct {
	// Project is the project's name.
	Project string
	// LimitBytes is the hard limit on the project's stored bytes.
	LimitBytes int64
	// WarnBytes is the stored bytes at which usage reports a warning.
	WarnBytes int64
	// ArtifactLimit is the hard limit on the project's artifacts.
	ArtifactLimit int64
	UpdatedAt     time.Time
	// UpdatedBy names who set it ("" for the system).
	UpdatedBy string
}

// Usage is what a project uses, computed from its repositories: those
// whose name is the project name or starts with it and a slash.
type Usage struct {
	// StoredBytes is the size of the distinct blobs linked to any
	// repository of the project, each counted once, plus the size of the
	// distinct manifest digests stored in them.
	StoredBytes int64
	// LogicalBytes is, over every manifest row of the project, its size
	// plus the sizes of its blob references (config included as recorded):
	// what the artifacts add up to.
	LogicalBytes int64
	// Artifacts counts the manifest rows of the project that no manifest
	// of the same repository names as a child.
	Artifacts int64
}

// QuotaQuerier is the part of QuotaStore that also works on the Querier a
// transaction passes (WithTx): reading usage and locking the quota so that
// a check made inside the transaction holds until it commits.
type QuotaQuerier interface {
	// ProjectUsage computes the usage of project by query.
	ProjectUsage(ctx context.Context, project string) (Usage, error)
	// LockQuota returns the quota of project, or ErrNotFound if it has
	// none. Inside a transaction it locks the quota until the transaction
	// ends (SQLite: write transactions are serialized already; PostgreSQL:
	// the row is read FOR UPDATE), so two transactions checking one
	// project's quota run one after the other and the second sees what the
	// first committed.
	LockQuota(ctx context.Context, project string) (*Quota, error)
	// ProjectHasBlob reports whether dgst is linked to any repository of
	// project.
	ProjectHasBlob(ctx context.Context, project string, dgst digest.Digest) (bool, error)
	// ProjectHasManifest reports whether any repository of project stores
	// the manifest dgst.
	ProjectHasManifest(ctx context.Context, project string, dgst digest.Digest) (bool, error)
}

// QuotaStore stores project quotas and computes usage. It is an optional
// ability of a Store, found with QuotaOf; the SQLite and PostgreSQL
// backends have it, on their Store and on the Querier of WithTx.
type QuotaStore interface {
	QuotaQuerier
	// PutQuota creates or replaces the quota of q.Project and sets
	// q.UpdatedAt (now when zero); ErrNotFound if the project does not
	// exist, ErrInvalid if a figure is negative.
	PutQuota(ctx context.Context, q *Quota) error
	// GetQuota returns the quota of project, or ErrNotFound if it has
	// none (or the project does not exist).
	GetQuota(ctx context.Context, project string) (*Quota, error)
	// DeleteQuota removes the quota of project; ErrNotFound if it had
	// none. Deleting a project deletes its quota.
	DeleteQuota(ctx context.Context, project string) error
}

// QuotaOf returns the QuotaStore of s, looking through decorators that
// implement Unwrapper, and whether s has one.
func QuotaOf(s Store) (QuotaStore, bool) {
	for s != nil {
		if qs, ok := s.(QuotaStore); ok {
			return qs, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}

// QuerierUnwrapper is a transaction Querier that decorates another (the
// pull-path cache's); QuotaTxOf looks through it for abilities the
// decorator does not add itself.
type QuerierUnwrapper interface {
	// UnwrapQuerier returns the decorated Querier.
	UnwrapQuerier() Querier
}

// QuotaTxOf returns the QuotaQuerier of a transaction's Querier, looking
// through decorators that implement QuerierUnwrapper, and whether it has
// one.
func QuotaTxOf(q Querier) (QuotaQuerier, bool) {
	for q != nil {
		if qq, ok := q.(QuotaQuerier); ok {
			return qq, true
		}
		u, ok := q.(QuerierUnwrapper)
		if !ok {
			return nil, false
		}
		q = u.UnwrapQuerier()
	}
	return nil, false
}
