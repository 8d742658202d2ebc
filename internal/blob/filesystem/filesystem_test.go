package filesystem

import (
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob/blobtest"
	"github.com/opencontainers/go-digest"
)

// newTestStore returns an empty store in a fresh temporary directory,
// logging to the test's output.
func newTestStore(tb testing.TB) *Store {
	tb.Helper()
	s, err := New(filepath.Join(tb.TempDir(), "blobs"), Options{Logger: slog.New(slog.NewTextHandler(tb.Output(), nil))})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

// leftovers lists what the store holds besides committed blobs: every
// entry under uploads/, and anything under blobs/ that is not a file at
// the path of the digest its place names.
func leftovers(tb testing.TB, s *Store) []string {
	tb.Helper()
	var left []string
	uploads := s.mustPath(uploadsRootSpec{})
	err := filepath.WalkDir(uploads, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != uploads {
			left = append(left, relPath(tb, s, p))
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("walk uploads: %v", err)
	}
	blobs := s.mustPath(blobsRootSpec{})
	err = filepath.WalkDir(blobs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !isBlobPath(s, p) || !d.Type().IsRegular() {
			left = append(left, relPath(tb, s, p))
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("walk blobs: %v", err)
	}
	return left
}

// isBlobPath reports whether p is where pathFor puts the blob that p's
// last two elements (algorithm directory and file name) name.
func isBlobPath(s *Store, p string) bool {
	rel, err := filepath.Rel(s.mustPath(blobsRootSpec{}), p)
	if err != nil {
		return false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 3 {
		return false
	}
	want, err := pathFor(s.root, blobSpec{digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])})
	return err == nil && want == p
}

// relPath returns p relative to the store root, with forward slashes.
func relPath(tb testing.TB, s *Store, p string) string {
	tb.Helper()
	rel, err := filepath.Rel(s.root, p)
	if err != nil {
		tb.Fatalf("path %s outside root %s", p, s.root)
	}
	return filepath.ToSlash(rel)
}

func harness(tb testing.TB) blobtest.Harness {
	s := newTestStore(tb)
	return blobtest.Harness{Store: s, Leftovers: func(t *testing.T) []string { return leftovers(t, s) }}
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobtest.Harness { return harness(t) })
}

func BenchmarkConformance(b *testing.B) {
	blobtest.RunBenchmarks(b, func(b *testing.B) blobtest.Harness { return harness(b) })
}
