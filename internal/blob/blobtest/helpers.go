package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// chunk is the write size the suite uses unless a test says otherwise: odd,
// so that writes never line up with a driver's buffers or blocks.
const chunk = 4093

// newID returns a fresh upload id made of lowercase letters, digits and
// '-', which every driver must accept.
func newID() string {
	return "up-" + strings.ToLower(rand.Text())
}

// testData returns n pseudo-random bytes, the same for the same seed.
func testData(n int, seed uint64) []byte {
	p := make([]byte, n)
	newStream(seed, int64(n)).Read(p)
	return p
}

// writeChunks writes p to w in pieces of size n (the last may be shorter)
// and checks that Size follows.
func writeChunks(t testing.TB, w blob.Writer, p []byte, n int) {
	t.Helper()
	start := w.Size()
	for off := 0; off < len(p); off += n {
		end := min(off+n, len(p))
		if got, err := w.Write(p[off:end]); err != nil || got != end-off {
			t.Fatalf("Write(%d bytes) at %d = %d, %v; want all written", end-off, start+int64(off), got, err)
		}
	}
	if got, want := w.Size(), start+int64(len(p)); got != want {
		t.Fatalf("Size() after writing = %d, want %d", got, want)
	}
}

// put uploads p in one session and commits it as dgst.
func put(t testing.TB, s blob.Store, p []byte, dgst digest.Digest) blob.Info {
	t.Helper()
	ctx := context.Background()
	w, err := s.NewWriter(ctx, newID())
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	defer w.Cancel(ctx)
	writeChunks(t, w, p, chunk)
	info, err := w.Commit(ctx, dgst, int64(len(p)))
	if err != nil {
		t.Fatalf("Commit(%s, %d): %v", dgst, len(p), err)
	}
	want := blob.Info{Digest: dgst, Size: int64(len(p))}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Fatalf("Commit returned wrong Info (-want +got):\n%s", diff)
	}
	return info
}

// checkStored checks that Stat and Open of dgst report exactly want.
func checkStored(t testing.TB, s blob.Store, dgst digest.Digest, want []byte) {
	t.Helper()
	info, err := s.Stat(context.Background(), dgst)
	if err != nil {
		t.Fatalf("Stat(%s): %v", dgst, err)
	}
	if diff := cmp.Diff(blob.Info{Digest: dgst, Size: int64(len(want))}, info); diff != "" {
		t.Errorf("Stat(%s) (-want +got):\n%s", dgst, diff)
	}
	if got := readBlob(t, s, dgst); !bytes.Equal(got, want) {
		t.Errorf("content of %s differs from what was written: %s", dgst, describeDiff(got, want))
	}
}

// readBlob returns the whole content of dgst.
func readBlob(t testing.TB, s blob.Store, dgst digest.Digest) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), dgst)
	if err != nil {
		t.Fatalf("Open(%s): %v", dgst, err)
	}
	defer r.Close()
	p, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", dgst, err)
	}
	return p
}

// describeDiff says where two byte slices first differ, without printing
// megabytes.
func describeDiff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at byte %d of %d (got %d bytes)", i, len(want), len(got))
		}
	}
	return fmt.Sprintf("got %d bytes, want %d", len(got), len(want))
}

// checkNotStored checks that Stat and Open of dgst both report ErrNotFound.
func checkNotStored(t testing.TB, s blob.Store, dgst digest.Digest) {
	t.Helper()
	ctx := context.Background()
	_, err := s.Stat(ctx, dgst)
	wantClass(t, err, errdefs.ErrNotFound, fmt.Sprintf("Stat(%s)", dgst))
	r, err := s.Open(ctx, dgst)
	if err == nil {
		r.Close()
	}
	wantClass(t, err, errdefs.ErrNotFound, fmt.Sprintf("Open(%s)", dgst))
}

// wantClass fails the test unless err is of class (an errdefs sentinel or
// a context error).
func wantClass(t testing.TB, err, class error, what string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("%s succeeded, want an error of class %q", what, class)
	case !errors.Is(err, class):
		t.Fatalf("%s: got error %q, want one of class %q", what, err, class)
	}
}

// checkNoLeftovers fails the test if the driver still holds temporary data.
func checkNoLeftovers(t *testing.T, h Harness, after string) {
	t.Helper()
	if left := h.Leftovers(t); len(left) > 0 {
		t.Errorf("after %s the driver still holds temporary data: %q", after, left)
	}
}

// checkHasLeftovers fails the test if the driver reports no temporary data
// while an upload holds some: without this, a Leftovers func that always
// returns nil would pass every garbage check.
func checkHasLeftovers(t *testing.T, h Harness, during string) {
	t.Helper()
	if left := h.Leftovers(t); len(left) == 0 {
		t.Errorf("during %s Harness.Leftovers reports nothing, but an upload holds data", during)
	}
}

// saveState flushes w and returns its state, checking that Size is
// unchanged by either.
func saveState(t testing.TB, w blob.Writer) []byte {
	t.Helper()
	size := w.Size()
	if err := w.Flush(context.Background()); err != nil {
		t.Fatalf("Flush at %d: %v", size, err)
	}
	st, err := w.State()
	if err != nil {
		t.Fatalf("State at %d: %v", size, err)
	}
	if w.Size() != size {
		t.Fatalf("Size() changed from %d to %d by Flush and State", size, w.Size())
	}
	return st
}

// stream is an endless-looking source of pseudo-random bytes of a fixed
// length that never holds more than the caller's buffer, so the suite can
// write blobs far larger than it may keep in memory.
type stream struct {
	rng  *mrand.ChaCha8
	left int64
}

func newStream(seed uint64, n int64) *stream {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	return &stream{rng: mrand.NewChaCha8(key), left: n}
}

func (s *stream) Read(p []byte) (int, error) {
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
