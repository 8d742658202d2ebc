// Package meta defines Berth's metadata store: the source of truth for
// repositories, manifests, tags, the references between them, referrers,
// repository-blob links, blob leases and upload sessions.
//
// The store offers primitives; the rules (what must exist before a manifest
// is stored, what happens when a tag moves) live once, above it, in package
// registry. Every backend (sqlite, postgres) passes the conformance suite in
// package metatest.
//
// Errors: a missing row is errdefs.ErrNotFound, a violated uniqueness that the
// caller did not ask to ignore is errdefs.ErrAlreadyExists, and a database
// that cannot be reached is errdefs.ErrUnavailable, each wrapped with what
// failed.
//
// Ordering: names (repositories, tags) sort byte-wise (C collation) so that
// the `last` pagination of the Distribution API is stable across backends.
package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Repository is a named collection of manifests and tags, such as
// "platform/api/backend".
type Repository struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// Blob records that the blob store holds content under Digest.
type Blob struct {
	Digest    digest.Digest
	Size      int64
	CreatedAt time.Time
}

// Manifest is a manifest (image manifest, index, Docker manifest or list)
// stored in one repository. Content holds the exact bytes pushed; the digest
// a client gets back is the digest of those bytes.
type Manifest struct {
	RepositoryID int64
	Digest       digest.Digest
	MediaType    string
	// ArtifactType is the effective artifact type for the referrers API:
	// the manifest's artifactType, else its config media type (image
	// manifests), else empty.
	ArtifactType string
	// Subject is the digest named by the manifest's subject field, or "".
	Subject digest.Digest
	// ConfigDigest is the config blob of an image manifest, or "".
	ConfigDigest digest.Digest
	Size         int64
	// Annotations are the manifest's top-level annotations, returned in
	// referrers descriptors.
	Annotations map[string]string
	// Content is the manifest bytes; empty when a method is asked not to
	// load it.
	Content  []byte
	PushedAt time.Time
	// PushedBy names who pushed it ("" when anonymous).
	PushedBy string
	// LastPulledAt is when it was last pulled (zero if never).
	LastPulledAt time.Time
}

// RefKind says what a manifest reference points at.
type RefKind int

const (
	// RefBlob is a config or layer blob.
	RefBlob RefKind = 1
	// RefManifest is a child manifest of an index.
	RefManifest RefKind = 2
)

// Reference is an edge from a manifest to a blob or child manifest it names.
// Garbage collection marks through these edges.
type Reference struct {
	Digest digest.Digest
	Kind   RefKind
	// Size is the size stated by the descriptor.
	Size int64
}

// Tag maps a name in a repository to a manifest digest.
type Tag struct {
	RepositoryID int64
	Name         string
	Digest       digest.Digest
	UpdatedAt    time.Time
}

// TagEvent is one entry of a tag's history: it was set to Digest (Digest
// empty when the tag was deleted) at At.
type TagEvent struct {
	Tag    string
	Digest digest.Digest
	// Previous is the digest the tag pointed at before, or "".
	Previous digest.Digest
	At       time.Time
}

// Upload is a blob upload session. It also pins the session's partial data
// against garbage collection until ExpiresAt.
type Upload struct {
	// ID is the opaque session id in the upload URL.
	ID           string
	RepositoryID int64
	// Offset is the number of bytes durably received.
	Offset int64
	// State is the blob store's opaque resume state (hash state, driver
	// state) for Offset, as returned by blob.Writer.State.
	State     []byte
	StartedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
}

// Stats are store-wide counts for metrics.
type Stats struct {
	// Repositories counts every repository, with or without manifests.
	Repositories int64
	Manifests    int64
	Tags         int64
	Blobs        int64
	// BlobBytes is the total size of all blobs, each counted once.
	BlobBytes int64
	Uploads   int64
}

// Repositories stores repository names.
type Repositories interface {
	// EnsureRepository returns the repository called name, creating it if
	// absent.
	EnsureRepository(ctx context.Context, name string) (*Repository, error)
	// GetRepository returns the repository called name or ErrNotFound.
	GetRepository(ctx context.Context, name string) (*Repository, error)
	// ListRepositories returns up to limit names of repositories that hold at
	// least one manifest, in byte order, strictly after `after` ("" for the
	// start).
	ListRepositories(ctx context.Context, after string, limit int) ([]string, error)
}

// Blobs stores blob records and which repositories may serve them.
type Blobs interface {
	// PutBlob records b if no blob with its digest is recorded. Recording
	// the same digest again is not an error and keeps the first record.
	PutBlob(ctx context.Context, b Blob) error
	// GetBlob returns the record of dgst or ErrNotFound.
	GetBlob(ctx context.Context, dgst digest.Digest) (*Blob, error)
	// LinkBlob lets repository repoID serve dgst. The blob must be recorded
	// (else ErrNotFound). Linking twice is not an error.
	LinkBlob(ctx context.Context, repoID int64, dgst digest.Digest) error
	// GetLinkedBlob returns the record of dgst if repoID may serve it, else
	// ErrNotFound.
	GetLinkedBlob(ctx context.Context, repoID int64, dgst digest.Digest) (*Blob, error)
	// UnlinkBlob removes the link; ErrNotFound if there was none.
	UnlinkBlob(ctx context.Context, repoID int64, dgst digest.Digest) error
	// ListBlobRepositories returns up to limit names of repositories that
	// may serve dgst, in byte order (for a mount that names no source).
	ListBlobRepositories(ctx context.Context, dgst digest.Digest, limit int) ([]string, error)
	// MissingLinks returns those of dgsts that repoID may not serve, in the
	// order given (a digest given twice and missing is returned twice), in
	// one round trip.
	MissingLinks(ctx context.Context, repoID int64, dgsts []digest.Digest) ([]digest.Digest, error)
	// LeaseBlob pins dgst against garbage collection until at least until
	// (an existing later lease is kept).
	LeaseBlob(ctx context.Context, dgst digest.Digest, until time.Time) error
	// BlobLease returns when the lease on dgst ends (zero time if none).
	BlobLease(ctx context.Context, dgst digest.Digest) (time.Time, error)
}

// Manifests stores manifests, their references and their subjects.
type Manifests interface {
	// PutManifest stores m (m.Content must be set) with its references in
	// m.RepositoryID. Storing a digest the repository already holds is not
	// an error and leaves the stored row as it was.
	PutManifest(ctx context.Context, m *Manifest, refs []Reference) error
	// GetManifest returns the manifest dgst of repoID, with Content only if
	// withContent, or ErrNotFound.
	GetManifest(ctx context.Context, repoID int64, dgst digest.Digest, withContent bool) (*Manifest, error)
	// GetTaggedManifest resolves tag in repoID and returns its manifest in
	// one round trip, or ErrNotFound if the tag does not exist.
	GetTaggedManifest(ctx context.Context, repoID int64, tag string, withContent bool) (*Manifest, error)
	// DeleteManifest removes the manifest and its reference rows;
	// ErrNotFound if absent, ErrConflict while a tag still points at it
	// (delete the tags first: a tag never points at nothing).
	DeleteManifest(ctx context.Context, repoID int64, dgst digest.Digest) error
	// MissingManifests returns those of dgsts that repoID does not hold, in
	// the order given (as MissingLinks), in one round trip.
	MissingManifests(ctx context.Context, repoID int64, dgsts []digest.Digest) ([]digest.Digest, error)
	// ListManifestParents returns the digests of manifests in repoID that
	// name dgst as a child (RefManifest).
	ListManifestParents(ctx context.Context, repoID int64, dgst digest.Digest) ([]digest.Digest, error)
	// ListBlobUsers returns up to limit digests of manifests in repoID that
	// reference the blob dgst (RefBlob).
	ListBlobUsers(ctx context.Context, repoID int64, dgst digest.Digest, limit int) ([]digest.Digest, error)
	// ListReferrers returns the manifests of repoID whose subject is
	// subject, without Content, ordered by digest; only those of
	// artifactType when it is not "".
	ListReferrers(ctx context.Context, repoID int64, subject digest.Digest, artifactType string) ([]Manifest, error)
}

// Tags stores tags and their history.
type Tags interface {
	// PutTag points tag name of repoID at dgst, creating or moving it, and
	// records the change in the tag history. It returns the digest the tag
	// pointed at before ("" if it is new). Setting a tag to the digest it
	// already has changes nothing and records nothing.
	PutTag(ctx context.Context, repoID int64, name string, dgst digest.Digest) (previous digest.Digest, err error)
	// GetTag returns the tag or ErrNotFound.
	GetTag(ctx context.Context, repoID int64, name string) (*Tag, error)
	// DeleteTag removes the tag (recording it in the history) and returns
	// the digest it pointed at; ErrNotFound if absent.
	DeleteTag(ctx context.Context, repoID int64, name string) (digest.Digest, error)
	// ListTags returns up to limit tag names of repoID in byte order,
	// strictly after `after`.
	ListTags(ctx context.Context, repoID int64, after string, limit int) ([]string, error)
	// ListTagsOf returns the names of the tags of repoID that point at dgst.
	ListTagsOf(ctx context.Context, repoID int64, dgst digest.Digest) ([]string, error)
	// TagHistory returns the history of tag name, newest first, up to limit.
	TagHistory(ctx context.Context, repoID int64, name string, limit int) ([]TagEvent, error)
}

// Uploads stores blob upload sessions.
type Uploads interface {
	// CreateUpload stores a new session; ErrAlreadyExists if the id is used.
	CreateUpload(ctx context.Context, u *Upload) error
	// GetUpload returns the session or ErrNotFound.
	GetUpload(ctx context.Context, id string) (*Upload, error)
	// UpdateUpload records a new offset and state for session u.ID, and
	// moves UpdatedAt and ExpiresAt, but only if the stored offset is
	// fromOffset; otherwise it returns ErrConflict (another request moved
	// the session meanwhile). ErrNotFound if the session is gone.
	UpdateUpload(ctx context.Context, u *Upload, fromOffset int64) error
	// DeleteUpload removes the session; ErrNotFound if absent.
	DeleteUpload(ctx context.Context, id string) error
	// ListExpiredUploads returns up to limit sessions whose ExpiresAt is
	// before t, oldest first.
	ListExpiredUploads(ctx context.Context, t time.Time, limit int) ([]Upload, error)
}

// Querier is every store primitive. A Store runs each call in its own
// transaction; a Querier passed to WithTx runs them in one.
type Querier interface {
	Repositories
	Blobs
	Manifests
	Tags
	Uploads
	AccessQuerier
}

// Store is a metadata backend.
//
// List methods treat a limit <= 0 as no limit.
type Store interface {
	Querier
	// WithTx runs fn in one read-write transaction, committed if fn returns
	// nil and rolled back otherwise. fn must only touch the database through
	// tx (no blob I/O, no network), must return as soon as a primitive fails
	// (PostgreSQL aborts the transaction on the first failed statement), and
	// may be called again if the backend retries a serialization failure,
	// so it must not have other effects.
	WithTx(ctx context.Context, fn func(tx Querier) error) error
	// Stats returns store-wide counts.
	Stats(ctx context.Context) (Stats, error)
	// Ping reports whether the backend can serve (for readiness).
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// Change is a committed write that cached readers must forget: a tag set or
// deleted (Tag), or a manifest deleted (Digest), in repository
// RepositoryID.
type Change struct {
	RepositoryID int64
	Tag          string
	Digest       digest.Digest
}

// ChangeFeed is an optional ability of a backend that several processes
// share (PostgreSQL): it tells every process about the changes any of them
// committed, so in-memory caches stay correct across replicas.
type ChangeFeed interface {
	// WatchChanges calls fn with the changes committed by any process (this
	// one included), in commit order, until ctx ends; it then returns nil.
	// fn is called with lost=true when changes may have been missed (at
	// start and after a reconnect): the caller must forget everything it
	// cached. fn must not block for long.
	WatchChanges(ctx context.Context, fn func(changes []Change, lost bool)) error
}
