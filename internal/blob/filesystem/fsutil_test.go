package filesystem

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
)

func TestIOError(t *testing.T) {
	pathErr := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "open", Path: "/data/blobs/x", Err: errno}
	}
	tests := []struct {
		name  string
		cause error
		class error
		hint  string
	}{
		{"permission", pathErr(syscall.EACCES), errdefs.ErrUnavailable, "permission denied: the user running Berth"},
		{"operation not permitted", pathErr(syscall.EPERM), errdefs.ErrUnavailable, "permission denied: the user running Berth"},
		{"disk full", pathErr(syscall.ENOSPC), errdefs.ErrUnavailable, "is full"},
		{"quota", pathErr(syscall.EDQUOT), errdefs.ErrUnavailable, "is full"},
		{"read-only", pathErr(syscall.EROFS), errdefs.ErrUnavailable, "read-only"},
		{"other", pathErr(syscall.EIO), errdefs.ErrUnavailable, "open /data/blobs/x: input/output error"},
		{"cancelled", context.Canceled, context.Canceled, "context canceled"},
		{"deadline", context.DeadlineExceeded, context.DeadlineExceeded, "deadline exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ioError(tc.cause, "open blob %s", "sha256:abc")
			if !errors.Is(err, tc.class) {
				t.Errorf("ioError(%v) = %v, want class %q", tc.cause, err, tc.class)
			}
			if !errors.Is(err, tc.cause) {
				t.Errorf("ioError(%v) = %v, lost its cause", tc.cause, err)
			}
			if tc.class != errdefs.ErrUnavailable && errors.Is(err, errdefs.ErrUnavailable) {
				t.Errorf("ioError(%v) is ErrUnavailable; cancellation must stay distinguishable", tc.cause)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "open blob sha256:abc") || !strings.Contains(msg, tc.hint) {
				t.Errorf("message %q: want it to start with what failed and contain %q", msg, tc.hint)
			}
		})
	}
}

// TestCtxReaderStopsMidStream: re-reading for verification stops at the
// first read after cancellation, not at the end of the blob.
func TestCtxReaderStopsMidStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := ctxReader{ctx: ctx, r: strings.NewReader(strings.Repeat("z", 100))}
	buf := make([]byte, 10)
	if n, err := r.Read(buf); n != 10 || err != nil {
		t.Fatalf("Read before cancel = %d, %v", n, err)
	}
	cancel()
	n, err := r.Read(buf)
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadAll after cancel: %v, want context.Canceled", err)
	}
}
