package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/berth-registry/berth/internal/errdefs"
)

// storageError is an I/O failure of the filesystem under the store. It is
// of class errdefs.ErrUnavailable and keeps the *fs.PathError it came from,
// so callers can test for both.
type storageError struct {
	msg   string
	cause error
}

func (e *storageError) Error() string   { return e.msg + ": " + e.cause.Error() }
func (e *storageError) Unwrap() []error { return []error{errdefs.ErrUnavailable, e.cause} }

// ioError classes err, returned by the os package while doing what format
// describes. Context errors pass through unchanged (wrapped with the
// message) so callers can tell cancellation from failure; permission and
// space problems say what the operator should check.
func ioError(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", msg, err)
	case errors.Is(err, fs.ErrPermission):
		msg += " (permission denied: the user running Berth must be able to read and write the blob store directory)"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		msg += " (the filesystem holding the blob store is full)"
	case errors.Is(err, syscall.EROFS):
		msg += " (the filesystem holding the blob store is read-only)"
	}
	return &storageError{msg: msg, cause: err}
}

// syncDir fsyncs directory dir, making the entries added to or removed from
// it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return ioError(err, "open directory %s to sync it", dir)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return ioError(err, "sync directory %s", dir)
	}
	return nil
}

// mkdirDurable creates each directory of dirs in order (each the parent of
// the next) if it is missing, and fsyncs the parent of every directory it
// creates, so a new directory survives a crash. The parent of dirs[0] must
// exist; each later directory must be inside the one before it.
func mkdirDurable(dirs ...string) error {
	for _, dir := range dirs {
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return ioError(err, "create directory %s", dir)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	return nil
}

// ctxReader stops reading once ctx is done, so that re-reading a large blob
// to verify it can be cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
