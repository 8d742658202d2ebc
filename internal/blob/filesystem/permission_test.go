package filesystem

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// permStore returns a store whose directories another user can traverse,
// and restores every directory's permissions at cleanup so the temporary
// directory can be removed.
func permStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(filepath.Join(dir, "store"), Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return s
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestPermissionErrors: when the data directory does not let Berth's user
// in, every operation fails with an ErrUnavailable error that keeps the
// permission error and tells the operator what to fix, and none pretends
// the blob or upload is merely missing.
func TestPermissionErrors(t *testing.T) {
	ctx := context.Background()
	data := []byte("permissions")
	dgst := digest.FromBytes(data)
	tests := []struct {
		name string
		// setup prepares s as the test's own user.
		setup func(t *testing.T, s *Store)
		// act runs as another user; it reports with t.Error only.
		act func(t *testing.T, s *Store) error
	}{
		{
			name:  "New inside a read-only directory",
			setup: func(t *testing.T, s *Store) { chmod(t, s.Root(), 0o555) },
			act: func(t *testing.T, s *Store) error {
				_, err := New(filepath.Join(s.Root(), "nested"), Options{})
				return err
			},
		},
		{
			name:  "NewWriter in a read-only uploads directory",
			setup: func(t *testing.T, s *Store) { chmod(t, s.mustPath(uploadsRootSpec{}), 0o555) },
			act: func(t *testing.T, s *Store) error {
				_, err := s.NewWriter(ctx, "u1")
				return err
			},
		},
		{
			name: "Commit into a read-only blobs directory",
			setup: func(t *testing.T, s *Store) {
				chmod(t, s.mustPath(uploadsRootSpec{}), 0o777)
				chmod(t, s.mustPath(blobsRootSpec{}), 0o555)
			},
			act: func(t *testing.T, s *Store) error {
				w, err := s.NewWriter(ctx, "u1")
				if err != nil {
					t.Errorf("NewWriter: %v", err)
					return nil
				}
				if _, err := w.Write(data); err != nil {
					t.Errorf("Write: %v", err)
				}
				_, commitErr := w.Commit(ctx, dgst, int64(len(data)))
				if err := w.Cancel(ctx); err != nil {
					t.Errorf("Cancel after the failed Commit: %v", err)
				}
				if left := leftovers(t, s); len(left) > 0 {
					t.Errorf("leftovers after Cancel: %q", left)
				}
				return commitErr
			},
		},
		{
			name: "ResumeWriter of data another user owns",
			setup: func(t *testing.T, s *Store) {
				w, err := s.NewWriter(ctx, "u1")
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				chmod(t, s.mustPath(uploadDataSpec{"u1"}), 0o444)
			},
			act: func(t *testing.T, s *Store) error {
				st, err := blob.EncodeState(blob.NewHasher(), nil)
				if err != nil {
					t.Errorf("EncodeState: %v", err)
					return nil
				}
				_, err = s.ResumeWriter(ctx, "u1", st)
				return err
			},
		},
		{
			name:  "Stat behind an unreadable directory",
			setup: blockFanDir(dgst, data),
			act: func(t *testing.T, s *Store) error {
				_, err := s.Stat(ctx, dgst)
				return err
			},
		},
		{
			name:  "Open behind an unreadable directory",
			setup: blockFanDir(dgst, data),
			act: func(t *testing.T, s *Store) error {
				_, err := s.Open(ctx, dgst)
				return err
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := permStore(t)
			if tc.setup != nil {
				tc.setup(t, s)
			}
			var err error
			asOtherUser(t, func() { err = tc.act(t, s) })
			checkPermissionError(t, err)
		})
	}
}

// blockFanDir returns a setup that stores data and then makes the
// directory holding it inaccessible.
func blockFanDir(dgst digest.Digest, data []byte) func(t *testing.T, s *Store) {
	return func(t *testing.T, s *Store) {
		commit(t, s, data, dgst)
		chmod(t, filepath.Dir(s.mustPath(blobSpec{dgst})), 0o000)
	}
}

func checkPermissionError(t *testing.T, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatal("succeeded, want a permission error")
	case !errors.Is(err, errdefs.ErrUnavailable) || !errors.Is(err, fs.ErrPermission):
		t.Fatalf("error %q: want class ErrUnavailable wrapping fs.ErrPermission", err)
	case errdefs.IsNotFound(err):
		t.Fatalf("error %q is ErrNotFound; a permission problem must not look like a missing blob", err)
	case !strings.Contains(err.Error(), "permission denied: the user running Berth must be able to read and write"):
		t.Errorf("error %q does not tell the operator what to fix", err)
	}
}
