// Package registry is Berth's registry service: push, pull, mount, delete,
// tag and referrers over a metadata store (meta) and a blob store (blob).
//
// It keeps the rules every backend relies on, written once:
//   - content is verified before anything points at it: a blob is recorded
//     only after its digest matched, and a manifest is stored only if every
//     blob and child manifest it names is available in its repository;
//   - a repository serves a blob only if the blob was pushed or mounted there;
//   - bytes are durable (fsynced by the blob store) before the metadata that
//     points at them commits;
//   - listings (tags, catalog, referrers) come from the metadata store only.
//
// Errors are errdefs classes; the few cases where the HTTP layer must choose
// a specific OCI code carry a typed error (MissingReferencesError,
// DigestMismatchError, RangeError).
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/opencontainers/go-digest"
)

// Options tune a Service.
type Options struct {
	// UploadExpiry is how long an idle upload session lives.
	UploadExpiry time.Duration
	// BlobLease protects a committed, not yet referenced blob from garbage
	// collection for this long.
	BlobLease time.Duration
	// GCGrace is how long a blob a client saw (HEAD, GET) stays protected
	// from garbage collection: StatBlob renews its lease to now+GCGrace
	// once less than half of that is left. Default 1h.
	GCGrace time.Duration
	// MaxManifestBytes is the largest manifest accepted.
	MaxManifestBytes int64
	// MaxBlobBytes is the largest blob accepted; 0 for no limit.
	MaxBlobBytes int64
	// CanMountFrom reports whether the caller (in ctx) may read repository
	// repo, so a blob can be mounted from it. Nil allows every repository
	// (a registry without access control, where everything is readable).
	CanMountFrom func(ctx context.Context, repo string) bool
	// Logger receives the service's own logs; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Service implements the registry operations.
type Service struct {
	meta  meta.Store
	blobs blob.Store
	opts  Options
	log   *slog.Logger
	locks keyedMutex
	// immutable caches tag immutability rules (immutability.go).
	immutable immutability
	// pulls batches last-pull times (pulls.go).
	pulls pullTracker
	// quotas caches project storage quotas (quota.go).
	quotas quotas
	// gc is the metadata store's garbage collection fence, nil if it has
	// none (then blobs are never collected and need no fence).
	gc meta.Collector
	// onPut is called after a manifest push commits (OnManifestPut).
	onPut atomic.Pointer[func(ctx context.Context, repo string, dgst digest.Digest)]
	// onDelete is called after a manifest delete commits (OnManifestDelete).
	onDelete atomic.Pointer[func(ctx context.Context, repo string, dgst digest.Digest)]
}

// New returns a Service over the given stores.
func New(m meta.Store, b blob.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.UploadExpiry <= 0 {
		opts.UploadExpiry = 24 * time.Hour
	}
	if opts.BlobLease <= 0 {
		opts.BlobLease = 24 * time.Hour
	}
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = 4 << 20
	}
	if opts.GCGrace <= 0 {
		opts.GCGrace = time.Hour
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gc, _ := meta.CollectorOf(m)
	return &Service{meta: m, blobs: b, opts: opts, log: log, gc: gc}
}

// MaxManifestBytes returns the manifest size limit.
func (s *Service) MaxManifestBytes() int64 { return s.opts.MaxManifestBytes }

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// repository returns the repository called name, validating the name.
func (s *Service) repository(ctx context.Context, name string) (*meta.Repository, error) {
	if err := ref.ValidRepository(name); err != nil {
		return nil, err
	}
	return s.meta.GetRepository(ctx, name)
}

// ensureRepository returns the repository called name, creating it. It
// reads first: almost every push goes to a repository that exists, and a
// read costs no write transaction.
func (s *Service) ensureRepository(ctx context.Context, name string) (*meta.Repository, error) {
	if err := ref.ValidRepository(name); err != nil {
		return nil, err
	}
	r, err := s.meta.GetRepository(ctx, name)
	if errdefs.IsNotFound(err) {
		return s.meta.EnsureRepository(ctx, name)
	}
	return r, err
}

// MissingReferencesError says a manifest names blobs or manifests its
// repository does not hold (MANIFEST_BLOB_UNKNOWN).
type MissingReferencesError struct {
	Blobs     []digest.Digest
	Manifests []digest.Digest
}

func (e *MissingReferencesError) Error() string {
	switch {
	case len(e.Blobs) > 0 && len(e.Manifests) > 0:
		return fmt.Sprintf("manifest references %d blob(s) (first %s) and %d manifest(s) (first %s) not pushed to this repository; push them first",
			len(e.Blobs), e.Blobs[0], len(e.Manifests), e.Manifests[0])
	case len(e.Blobs) > 0:
		return fmt.Sprintf("manifest references blob %s%s not pushed to this repository; push it (or mount it) first",
			e.Blobs[0], more(len(e.Blobs)-1))
	default:
		return fmt.Sprintf("index references manifest %s%s not pushed to this repository; push it first",
			e.Manifests[0], more(len(e.Manifests)-1))
	}
}

func more(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (and %d more)", n)
}

// Unwrap classes the error as invalid input.
func (e *MissingReferencesError) Unwrap() error { return errdefs.ErrInvalid }

// DigestMismatchError says content does not match the digest the client
// named (DIGEST_INVALID).
type DigestMismatchError struct {
	Expected digest.Digest
	Actual   digest.Digest // may be "" when not computed
}

func (e *DigestMismatchError) Error() string {
	if e.Actual != "" {
		return fmt.Sprintf("content digest %s does not match the digest %s given by the client", e.Actual, e.Expected)
	}
	return fmt.Sprintf("content does not match the digest %s given by the client", e.Expected)
}

// Unwrap classes the error as invalid input.
func (e *DigestMismatchError) Unwrap() error { return errdefs.ErrInvalid }

// keyedMutex serializes work on one key (an upload id) inside this process.
// Across processes the metadata store's offset guard (UpdateUpload) decides.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyedEntry)
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
