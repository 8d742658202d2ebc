package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/opencontainers/go-digest"
)

// Store is a blob.Store in an S3 bucket. It is safe for concurrent use,
// also by many processes sharing the bucket; the Writers it returns are
// not.
type Store struct {
	core minio.Core
	cfg  Config
	keys keys
	opts Options
	log  *slog.Logger
	// cache maps digests to data objects (nil if disabled).
	cache *indexCache
	// secrets are the credentials that storageError scrubs from messages.
	secrets []string
	// idle holds up to maxIdleBuffers part buffers for the next writers.
	idle chan *[]byte

	mu sync.Mutex
	// open holds the uploads that have an open Writer from this Store.
	open map[string]struct{}
}

var (
	_ blob.Store        = (*Store)(nil)
	_ blob.UploadLister = (*Store)(nil)
	_ blob.Redirector   = (*Store)(nil)
)

// Open parses rawURL (see Config and ParseURL) and opens the store there,
// as New does.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, opts)
}

// New opens the store described by cfg and checks that it can serve:
// the bucket exists, the credentials may write to it, and the server
// honours conditional writes. It returns an ErrInvalid error for bad
// options, an ErrUnavailable error naming endpoint and bucket (never a
// credential) if the bucket is missing or refuses access, and an
// ErrUnsupported error for a server without conditional writes.
func New(ctx context.Context, cfg Config, opts Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = os.Getenv("AWS_REGION")
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	lookup := minio.BucketLookupAuto
	switch cfg.PathStyle {
	case "true":
		lookup = minio.BucketLookupPath
	case "false":
		lookup = minio.BucketLookupDNS
	}
	creds, secrets := credentialsFor(cfg, o)
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       cfg.Secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    o.Transport,
	})
	if err != nil {
		return nil, errdefs.Invalid("S3 endpoint %s: %v", cfg.endpointURL(), err)
	}
	s := &Store{
		core:    minio.Core{Client: client},
		cfg:     cfg,
		keys:    newKeys(cfg.Prefix),
		opts:    o,
		log:     o.Logger,
		cache:   newIndexCache(o.IndexCacheEntries),
		secrets: secrets,
		open:    make(map[string]struct{}),
		idle:    make(chan *[]byte, maxIdleBuffers),
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// credentialsFor picks the credentials (see Options) and lists the
// secrets among them.
func credentialsFor(cfg Config, o Options) (*credentials.Credentials, []string) {
	switch {
	case o.AccessKeyID != "":
		return credentials.NewStaticV4(o.AccessKeyID, o.SecretAccessKey, o.SessionToken),
			[]string{o.AccessKeyID, o.SecretAccessKey, o.SessionToken}
	case cfg.AccessKey != "":
		return credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), []string{cfg.AccessKey, cfg.SecretKey}
	default:
		return credentials.NewChainCredentials([]credentials.Provider{
				&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
			}), []string{
				os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"),
				os.Getenv("AWS_ACCESS_KEY"), os.Getenv("AWS_SECRET_KEY"),
			}
	}
}

// check verifies at start that the bucket exists and that the store may
// write, list, read and delete there, and that conditional writes work.
// It writes first: unlike a HEAD of the bucket, a PUT's error says
// whether the bucket is missing or the credentials are refused.
func (s *Store) check(ctx context.Context) error {
	const what = "open blob store"
	probe := s.keys.probe(randomHex(8))
	if err := s.putSmall(ctx, probe, nil, putIfAbsent()); err != nil {
		return s.storageError(err, what)
	}
	defer func() {
		if err := s.removeKeys(context.WithoutCancel(ctx), []string{probe}); err != nil {
			s.log.WarnContext(ctx, "could not remove the start-up test object", "key", probe, "err", err)
		}
	}()
	switch err := s.putSmall(ctx, probe, nil, putIfAbsent()); {
	case err == nil:
		return errdefs.Unsupported("%s: %s ignores conditional writes (If-None-Match: *); Berth needs them to store each blob once when replicas race", what, s.cfg.describe())
	case !isPreconditionFailed(err):
		return s.storageError(err, what)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the listing after its first answer
	oi, ok := <-s.core.Client.ListObjects(lctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: probe, MaxKeys: 1})
	if ok && oi.Err != nil {
		return s.storageError(oi.Err, what)
	}
	return nil
}

// Config returns the store's configuration, with the region resolved.
// Its String method hides the secret key.
func (s *Store) Config() Config { return s.cfg }

// Stat returns the Info of dgst from its index object (one HEAD), an
// ErrNotFound error if it is not stored or an ErrInvalid error if dgst is
// malformed.
func (s *Store) Stat(ctx context.Context, dgst digest.Digest) (blob.Info, error) {
	e, _, err := s.headIndex(ctx, dgst)
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob: %w", err)
	}
	return blob.Info{Digest: dgst, Size: e.size}, nil
}

// Open returns the content of dgst, streamed from its data object with
// one GET (plus a HEAD of the index when the mapping is not cached). The
// reader seeks without a request and reopens the object at the new
// position with a ranged GET on the next Read, so http.ServeContent serves
// Range requests efficiently. It returns an ErrNotFound error if dgst is
// not stored and an ErrInvalid error if it is malformed. Reads honour ctx.
func (s *Store) Open(ctx context.Context, dgst digest.Digest) (io.ReadSeekCloser, error) {
	if err := validateDigest(dgst); err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	if e, ok := s.cache.get(dgst); ok {
		r, err := s.openData(ctx, dgst, e)
		if !errdefs.IsNotFound(err) {
			return r, err
		}
		// Deleted by another replica, and maybe stored again since.
		s.cache.evict(dgst)
	}
	e, _, err := s.headIndex(ctx, dgst)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return s.openData(ctx, dgst, e)
}

// Delete removes dgst: it records the deletion in the data object's
// upload marker, removes the index (from then on dgst is not stored),
// then the data object and the marker. An interrupted Delete leaves the
// marker, so ListUploads and AbortUpload finish it. It returns an
// ErrNotFound error if dgst is not stored.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "delete blob %s", dgst)
	e, _, err := s.headIndex(ctx, dgst)
	if err != nil {
		return err
	}
	if err := s.putSmall(ctx, s.keys.marker(e.id), []byte(dgst), minio.PutObjectOptions{}); err != nil {
		return s.storageError(err, "mark data object %s for deletion", e.key)
	}
	key, _ := s.keys.index(dgst)
	if err := s.core.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s.storageError(err, "remove index object")
	}
	s.cache.evict(dgst)
	// The blob is gone now; what remains is garbage the marker points at.
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if err := s.removeData(cctx, e.key); err != nil {
		s.log.WarnContext(ctx, "deleted blob left its data object; the upload sweep removes it",
			"digest", dgst, "key", e.key, "err", err)
		return nil
	}
	if err := s.removeKeys(cctx, []string{s.keys.marker(e.id)}); err != nil {
		s.log.WarnContext(ctx, "deleted blob left its marker; the upload sweep removes it", "digest", dgst, "err", err)
	}
	return nil
}

// NewWriter starts upload id by creating its marker with a conditional
// write. It returns an ErrInvalid error for an id that is not key-safe and
// an ErrAlreadyExists error if the upload exists already (or this Store
// has a writer open on it). ctx bounds the Writer's life: its Write (and
// the part uploads it starts) fail once ctx is done.
func (s *Store) NewWriter(ctx context.Context, id string) (_ blob.Writer, err error) {
	defer errdefs.Wrapf(&err, "start upload %s", id)
	if err := validateID(id); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	release, err := s.claim(id)
	if err != nil {
		return nil, errdefs.AlreadyExists("upload %s already exists: a writer is open on it", id)
	}
	err = s.putSmall(ctx, s.keys.marker(id), nil, putIfAbsent())
	if err != nil {
		release()
		if isPreconditionFailed(err) {
			return nil, errdefs.AlreadyExists("upload %s already exists", id)
		}
		return nil, s.storageError(err, "create upload marker")
	}
	return s.newWriter(ctx, id, blob.NewHasher(), driverState{}, release), nil
}

// claim records that this Store has a writer open on id, or returns an
// ErrConflict error if it has one already. release undoes it.
func (s *Store) claim(id string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.open[id]; ok {
		return nil, errdefs.Conflict("another request is writing to upload %s", id)
	}
	s.open[id] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.open, id)
			s.mu.Unlock()
		})
	}, nil
}

// cleanupContext returns a context for cleanup that must run even when
// ctx is done (a cancelled request's deferred Cancel), bounded in time.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
