package s3

import (
	"context"
	"crypto/sha256"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"testing"

	"github.com/opencontainers/go-digest"
)

// streamReader yields n pseudo-random bytes without holding them.
type streamReader struct {
	rng  *mrand.ChaCha8
	left int64
}

func newStreamReader(seed byte, n int64) *streamReader {
	return &streamReader{rng: mrand.NewChaCha8([32]byte{seed}), left: n}
}

func (s *streamReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, _ := s.rng.Read(p)
	s.left -= int64(n)
	return n, nil
}

// TestMemoryBounded uploads 256 MiB with the default part size in PATCHes
// of 40 MiB (io.Copy, Flush, State, Close, ResumeWriter) and commits it:
// the heap may grow by one part buffer and a little more, and no more than
// that may be allocated in all, however large the blob and however many
// PATCHes (each PATCH's writer reuses the Store's idle buffer).
func TestMemoryBounded(t *testing.T) {
	size, patch := int64(256<<20), int64(40<<20)
	if testing.Short() {
		size = 64 << 20
	}
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	h := sha256.New()
	if _, err := io.Copy(h, newStreamReader(1, size)); err != nil {
		t.Fatal(err)
	}
	dgst := digest.NewDigest(digest.SHA256, h)
	id := newUploadID()
	const slack = 6 << 20 // per-request and per-part allocations of the HTTP stack
	bound := s.opts.PartSize + slack

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	check := func(after string) {
		t.Helper()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		grown := int64(m.HeapInuse) - int64(base.HeapInuse)
		alloc := m.TotalAlloc - base.TotalAlloc
		t.Logf("after %s: heap in use grew by %d KiB, %d KiB allocated", after, grown>>10, alloc>>10)
		if grown > bound || alloc > uint64(bound) {
			t.Errorf("after %s of %d MiB: heap grew %d KiB, %d KiB allocated; want both under %d KiB (one part plus slack)",
				after, size>>20, grown>>10, alloc>>10, bound>>10)
		}
	}

	src := newStreamReader(1, size)
	w, err := s.NewWriter(ctx, id)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	for w.Size() < size {
		if _, err := io.CopyN(w, src, min(patch, size-w.Size())); err != nil {
			t.Fatalf("write at %d: %v", w.Size(), err)
		}
		st := saveAndClose(t, w)
		if w, err = s.ResumeWriter(ctx, id, st); err != nil {
			t.Fatalf("ResumeWriter at %d: %v", w.Size(), err)
		}
	}
	defer w.Cancel(ctx)
	check("writing")
	if _, err := w.Commit(ctx, dgst, size); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	check("Commit")
	if err := s.Delete(ctx, dgst); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}
