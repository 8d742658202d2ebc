package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// Options configures a Store. The zero value is ready to use.
//
// There is deliberately no switch to turn fsync off: a committed blob is a
// durability promise.
type Options struct {
	// Logger receives the few events the store handles itself (an upload
	// directory it could not remove after a commit). Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Store is a blob.Store on a local filesystem. It is safe for concurrent
// use, also by several processes sharing the root directory; the Writers it
// returns are not.
type Store struct {
	root string
	log  *slog.Logger
}

var _ blob.Store = (*Store)(nil)

// New opens the blob store rooted at directory root (typically
// <data-dir>/blobs), creating root, root/blobs and root/uploads if they are
// missing. It returns an ErrInvalid error for an empty root and an
// ErrUnavailable error if the directories cannot be created or are not
// directories.
func New(root string, opts Options) (*Store, error) {
	if root == "" {
		return nil, errdefs.Invalid("blob store root directory is not set")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, errdefs.Invalid("blob store root %q: %v", root, err)
	}
	s := &Store{root: abs, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	for _, spec := range []pathSpec{blobsRootSpec{}, uploadsRootSpec{}} {
		dir := s.mustPath(spec)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, ioError(err, "create blob store directory %s", dir)
		}
	}
	return s, nil
}

// Root returns the absolute path of the store's root directory.
func (s *Store) Root() string { return s.root }

// Stat returns the Info of dgst, an ErrNotFound error if it is not stored
// or an ErrInvalid error if dgst is malformed.
func (s *Store) Stat(ctx context.Context, dgst digest.Digest) (blob.Info, error) {
	p, err := pathFor(s.root, blobSpec{dgst})
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob: %w", err)
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return blob.Info{}, errdefs.NotFound("blob %s not found", dgst)
	}
	if err != nil {
		return blob.Info{}, ioError(err, "stat blob %s", dgst)
	}
	if !fi.Mode().IsRegular() {
		return blob.Info{}, errdefs.Unavailable("blob %s: %s is not a regular file", dgst, p)
	}
	return blob.Info{Digest: dgst, Size: fi.Size()}, nil
}

// Open returns the content of dgst as the *os.File itself, so that
// io.Copy and http.ServeContent can hand it to the kernel (sendfile). It
// returns an ErrNotFound error if dgst is not stored and an ErrInvalid error
// if dgst is malformed.
func (s *Store) Open(ctx context.Context, dgst digest.Digest) (io.ReadSeekCloser, error) {
	p, err := pathFor(s.root, blobSpec{dgst})
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("blob %s not found", dgst)
	}
	if err != nil {
		return nil, ioError(err, "open blob %s", dgst)
	}
	return f, nil
}

// Delete removes dgst and fsyncs the directory that held it. It returns an
// ErrNotFound error if dgst is not stored. The fan-out directories stay,
// even when empty. Readers that opened dgst before keep reading it to the
// end.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	p, err := pathFor(s.root, blobSpec{dgst})
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", dgst, err)
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.NotFound("blob %s not found", dgst)
	}
	if err != nil {
		return ioError(err, "delete blob %s", dgst)
	}
	// Make the removal durable: a delete undone by a crash would leave
	// bytes that no metadata points at and no sweep would look for again.
	return syncDir(filepath.Dir(p))
}

// NewWriter starts upload id in a new directory uploads/<id>. It returns an
// ErrInvalid error if id is not path-safe (see validateID) and an
// ErrAlreadyExists error if upload id already exists. ctx bounds the
// Writer's life: its Write fails once ctx is done.
func (s *Store) NewWriter(ctx context.Context, id string) (blob.Writer, error) {
	dir, err := pathFor(s.root, uploadDirSpec{id})
	if err != nil {
		return nil, fmt.Errorf("start upload: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start upload %s: %w", id, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, errdefs.AlreadyExists("upload %s already exists", id)
		}
		return nil, ioError(err, "start upload %s", id)
	}
	data := s.mustPath(uploadDataSpec{id})
	f, err := os.OpenFile(data, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err == nil {
		if err = lockExclusive(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		err = ioError(err, "start upload %s", id)
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			s.log.WarnContext(ctx, "blob upload directory left behind", "upload", id, "dir", dir, "err", rmErr)
		}
		return nil, err
	}
	return &writer{s: s, ctx: ctx, id: id, f: f, h: blob.NewHasher()}, nil
}

// ResumeWriter reopens upload id at the offset recorded in state. Data
// beyond that offset (written after the state was taken, before a crash or
// a lost request) is truncated away, and the upload is marked rewound so
// that its Commit verifies by re-reading. It returns an ErrNotFound error
// if the upload's data is gone, an ErrConflict error if the data is
// shorter than state says or another writer has the upload open, and an
// ErrInvalid error for a malformed id or state. ctx bounds the Writer's
// life: its Write fails once ctx is done.
func (s *Store) ResumeWriter(ctx context.Context, id string, state []byte) (_ blob.Writer, err error) {
	defer errdefs.Wrapf(&err, "resume upload %s", id)
	data, err := pathFor(s.root, uploadDataSpec{id})
	if err != nil {
		return nil, err
	}
	h, err := blob.DecodeState(state, nil)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(data, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("upload data not found (aborted, committed or never started)")
	}
	if err != nil {
		return nil, ioError(err, "open upload data")
	}
	fw := &writer{s: s, ctx: ctx, id: id, f: f, h: h, entriesDurable: true, writtenBack: h.Size()}
	if err := fw.resumeAt(h.Size()); err != nil {
		f.Close()
		return nil, err
	}
	return fw, nil
}

// AbortUpload removes upload id and its data. state is not needed by this
// driver. Aborting an upload that does not exist is not an error; a
// malformed id is an ErrInvalid error. Like Writer.Cancel it does not
// depend on ctx, so cleanup also runs for a request that was cancelled.
func (s *Store) AbortUpload(ctx context.Context, id string, state []byte) error {
	dir, err := pathFor(s.root, uploadDirSpec{id})
	if err != nil {
		return fmt.Errorf("abort upload: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return ioError(err, "abort upload %s", id)
	}
	return nil
}

// mustPath returns the path of spec, which must not need validation (or
// was validated already).
func (s *Store) mustPath(spec pathSpec) string {
	p, err := pathFor(s.root, spec)
	if err != nil {
		panic(fmt.Sprintf("filesystem: path of validated %T: %v", spec, err))
	}
	return p
}
