package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// writer is one open upload: the data file uploads/<id>/data, open for
// writing at its end, and the running hash of what it holds.
type writer struct {
	s *Store
	// ctx is the context the writer was opened with; Write has no context
	// of its own and stops once this one is done.
	ctx context.Context
	id  string
	// f is the data file; nil once the writer is closed, cancelled or
	// committed.
	f *os.File
	h *blob.Hasher
	// entriesDurable records that the upload's directory entries have been
	// fsynced (a resumed upload's were, before its state was saved).
	entriesDurable bool
	// rewound records that the data was truncated to an older state at
	// some point, so h may not describe it: Commit re-reads to verify.
	rewound bool
	// writtenBack is the offset up to which writeback was started.
	writtenBack int64
}

// writebackChunk is how much data Write lets accumulate before it starts
// writing it back (see startWriteback): an fsync then waits for at most
// about this much, not for the whole blob, and the disk works while the
// rest of the blob arrives.
const writebackChunk = 8 << 20

var _ blob.Writer = (*writer)(nil)

// resumeAt locks w's freshly opened data file and positions it at offset,
// truncating what lies beyond it (after marking the upload rewound). It
// returns an ErrConflict error if the data is shorter or another writer
// holds the lock.
func (w *writer) resumeAt(offset int64) error {
	if err := lockExclusive(w.f); err != nil {
		if errors.Is(err, errLocked) {
			return errdefs.Conflict("another request is writing to this upload")
		}
		return ioError(err, "lock upload data")
	}
	fi, err := w.f.Stat()
	if err != nil {
		return ioError(err, "stat upload data")
	}
	marker := w.s.mustPath(uploadRewoundSpec{w.id})
	switch size := fi.Size(); {
	case size < offset:
		return errdefs.Conflict("upload data holds %d bytes but the state expects %d", size, offset)
	case size > offset:
		if err := markRewound(marker); err != nil {
			return err
		}
		w.rewound = true
		if err := w.f.Truncate(offset); err != nil {
			return ioError(err, "truncate upload data from %d to %d bytes", size, offset)
		}
	default:
		_, err := os.Lstat(marker)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ioError(err, "check for the rewound marker")
		}
		w.rewound = err == nil
	}
	if _, err := w.f.Seek(offset, io.SeekStart); err != nil {
		return ioError(err, "seek upload data to %d", offset)
	}
	return nil
}

// markRewound durably creates the rewound marker at path before data is
// truncated, so a crash cannot leave truncated data without it.
func markRewound(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return ioError(err, "mark upload rewound")
	}
	if err := f.Close(); err != nil {
		return ioError(err, "mark upload rewound")
	}
	return syncDir(filepath.Dir(path))
}

// ID returns the upload id.
func (w *writer) ID() string { return w.id }

// Size returns the number of bytes the upload holds.
func (w *writer) Size() int64 { return w.h.Size() }

// Write appends p to the upload's data and hash. It fails once the context
// the writer was opened with is done.
func (w *writer) Write(p []byte) (int, error) {
	if err := w.open("write to"); err != nil {
		return 0, err
	}
	if err := w.ctx.Err(); err != nil {
		return 0, fmt.Errorf("write to upload %s: %w", w.id, err)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	if err != nil {
		return n, ioError(err, "write to upload %s", w.id)
	}
	if end := w.h.Size(); end-w.writtenBack >= writebackChunk {
		startWriteback(w.f, w.writtenBack, end-w.writtenBack)
		w.writtenBack = end
	}
	return n, nil
}

// Flush fsyncs the data file, and the first time also the directories
// that name it, so the upload survives a crash at Size().
func (w *writer) Flush(ctx context.Context) error {
	if err := w.open("flush"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("flush upload %s: %w", w.id, err)
	}
	if err := w.f.Sync(); err != nil {
		return ioError(err, "flush upload %s", w.id)
	}
	if w.entriesDurable {
		return nil
	}
	for _, spec := range []pathSpec{uploadDirSpec{w.id}, uploadsRootSpec{}} {
		if err := syncDir(w.s.mustPath(spec)); err != nil {
			return fmt.Errorf("flush upload %s: %w", w.id, err)
		}
	}
	w.entriesDurable = true
	return nil
}

// State returns the hash state at Size(); this driver keeps no state of
// its own.
func (w *writer) State() ([]byte, error) {
	st, err := blob.EncodeState(w.h, nil)
	if err != nil {
		return nil, fmt.Errorf("state of upload %s: %w", w.id, err)
	}
	return st, nil
}

// Commit verifies the upload and moves its data to the path of expected.
// Steps: fsync the data, check size and digest (sha256 from the running
// hash, other algorithms and rewound uploads by re-reading the file), then
// either rename the file into place and fsync its directory or, if
// expected is stored already, keep the stored copy. The upload directory is removed last; a
// failure to remove it is logged, not returned, since the blob is safe.
func (w *writer) Commit(ctx context.Context, expected digest.Digest, size int64) (info blob.Info, err error) {
	defer errdefs.Wrapf(&err, "commit upload %s as %s", w.id, expected)
	if err := w.open("commit"); err != nil {
		return blob.Info{}, err
	}
	dst, err := pathFor(w.s.root, blobSpec{expected})
	if err != nil {
		return blob.Info{}, err
	}
	if size >= 0 && size != w.h.Size() {
		return blob.Info{}, errdefs.Invalid("received %d bytes but the client declared %d", w.h.Size(), size)
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	if err := w.f.Sync(); err != nil {
		return blob.Info{}, ioError(err, "sync upload data")
	}
	if err := w.verify(ctx, expected); err != nil {
		return blob.Info{}, err
	}
	if err := w.install(ctx, dst); err != nil {
		return blob.Info{}, err
	}
	w.finish(ctx)
	return blob.Info{Digest: expected, Size: w.h.Size()}, nil
}

// verify checks the upload's data against expected: from the running
// hash when it is trustworthy and of expected's algorithm, else by
// re-reading the data file.
func (w *writer) verify(ctx context.Context, expected digest.Digest) error {
	if ok, decided := w.h.Verify(expected); decided {
		if !ok {
			return errdefs.Invalid("content digest is %s", w.h.Digest())
		}
		if !w.rewound {
			return nil
		}
	}
	r := ctxReader{ctx: ctx, r: io.NewSectionReader(w.f, 0, w.h.Size())}
	err := blob.VerifyReader(r, expected)
	if err == nil || errdefs.IsInvalid(err) || ctx.Err() != nil {
		return err
	}
	return ioError(err, "re-read upload data")
}

// install makes the verified data readable at dst. If dst holds a file of
// the right size already (another upload of the same content), it is kept;
// one of another size cannot be this content and is replaced. Either way
// dst's directory is fsynced before install returns, since a concurrent
// upload may have renamed dst into place without having synced it yet.
func (w *writer) install(ctx context.Context, dst string) error {
	fanDir := filepath.Dir(dst)
	fi, err := os.Lstat(dst)
	switch {
	case err == nil && fi.Mode().IsRegular() && fi.Size() == w.h.Size():
		return syncDir(fanDir)
	case err == nil:
		w.s.log.WarnContext(ctx, "replacing a stored blob whose size does not match its digest",
			"path", dst, "size", fi.Size(), "want", w.h.Size())
	case !errors.Is(err, fs.ErrNotExist):
		return ioError(err, "check for a stored copy")
	}
	if err := mkdirDurable(filepath.Dir(fanDir), fanDir); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	src := w.s.mustPath(uploadDataSpec{w.id})
	if err := os.Rename(src, dst); err != nil {
		return ioError(err, "move upload data into place")
	}
	if err := syncDir(fanDir); err != nil {
		return err
	}
	// Stored content never changes; make accidental writes fail. The file
	// is in place whatever happens here.
	if err := w.f.Chmod(0o444); err != nil {
		w.s.log.WarnContext(ctx, "could not make a stored blob read-only", "path", dst, "err", err)
	}
	return nil
}

// finish releases a committed upload: it closes the data file and removes
// the upload directory (with the data file in it if the content was
// already stored).
func (w *writer) finish(ctx context.Context) {
	_ = w.f.Close() // synced already; a close error cannot lose data
	w.f = nil
	dir := w.s.mustPath(uploadDirSpec{w.id})
	if err := os.RemoveAll(dir); err != nil {
		w.s.log.WarnContext(ctx, "committed blob upload left its directory behind",
			"upload", w.id, "dir", dir, "err", err)
	}
}

// Close closes the data file and keeps it for a later ResumeWriter. Closing
// again, or after Commit or Cancel, does nothing.
func (w *writer) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return ioError(err, "close upload %s", w.id)
	}
	return nil
}

// Cancel removes the upload's directory and data. After Commit or Close it
// does nothing: the data is either a blob now or kept on purpose for a
// later ResumeWriter (use the store's AbortUpload to discard it). It does
// not depend on ctx, so a deferred Cancel cleans up even when the request
// that opened the writer was cancelled.
func (w *writer) Cancel(ctx context.Context) error {
	if w.f == nil {
		return nil
	}
	_ = w.f.Close() // the data is being discarded
	w.f = nil
	if err := os.RemoveAll(w.s.mustPath(uploadDirSpec{w.id})); err != nil {
		return ioError(err, "cancel upload %s", w.id)
	}
	return nil
}

// open returns an ErrConflict error if the writer can no longer be used
// for op.
func (w *writer) open(op string) error {
	if w.f == nil {
		return errdefs.Conflict("cannot %s upload %s: the writer is closed, committed or cancelled", op, w.id)
	}
	return nil
}
