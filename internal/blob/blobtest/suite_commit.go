package blobtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// testRoundTrip: what is written and committed reads back byte-identical,
// whatever the size and write pattern, with or without a declared size.
func testRoundTrip(t *testing.T, h Harness) {
	tests := []struct {
		name     string
		size     int
		writeLen int
		// declare is false to commit with size -1 (size not checked).
		declare bool
	}{
		{"one byte", 1, 1, true},
		{"small", 1000, 7, true},
		{"odd chunks", 64<<10 + 3, chunk, true},
		{"one large write", 1<<20 + 17, 1<<20 + 17, true},
		{"size not declared", 200_003, 32 << 10, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			data := testData(tc.size, uint64(100+i))
			dgst := digest.FromBytes(data)
			id := newID()
			w, err := h.Store.NewWriter(ctx, id)
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			defer w.Cancel(ctx)
			if w.ID() != id || w.Size() != 0 {
				t.Fatalf("new writer: ID() = %q, Size() = %d; want %q, 0", w.ID(), w.Size(), id)
			}
			writeChunks(t, w, data, tc.writeLen)
			size := int64(len(data))
			if !tc.declare {
				size = -1
			}
			info, err := w.Commit(ctx, dgst, size)
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if diff := cmp.Diff(blob.Info{Digest: dgst, Size: int64(len(data))}, info); diff != "" {
				t.Errorf("Commit Info (-want +got):\n%s", diff)
			}
			checkStored(t, h.Store, dgst, data)
			checkNoLeftovers(t, h, "Commit")
		})
	}
}

// testOpenSeek: the reader Open returns seeks like a file, for Range
// requests.
func testOpenSeek(t *testing.T, h Harness) {
	data := testData(100_000, 2)
	dgst := digest.FromBytes(data)
	put(t, h.Store, data, dgst)
	r, err := h.Store.Open(context.Background(), dgst)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	size := int64(len(data))
	// Steps run in order on the same reader; SeekCurrent depends on the
	// position the step before left.
	steps := []struct {
		name    string
		offset  int64
		whence  int
		wantPos int64
		read    int
	}{
		{"start", 0, io.SeekStart, 0, 10},
		{"absolute", 12_345, io.SeekStart, 12_345, 4096},
		{"forward from current", 1000, io.SeekCurrent, 12_345 + 4096 + 1000, 777},
		{"backward from current", -5000, io.SeekCurrent, 12_345 + 4096 + 1000 + 777 - 5000, 1},
		{"from end", -100, io.SeekEnd, size - 100, 100},
		{"back to start", 0, io.SeekStart, 0, 3},
	}
	for _, st := range steps {
		pos, err := r.Seek(st.offset, st.whence)
		if err != nil || pos != st.wantPos {
			t.Fatalf("%s: Seek(%d, %d) = %d, %v; want %d", st.name, st.offset, st.whence, pos, err, st.wantPos)
		}
		got := make([]byte, st.read)
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("%s: read %d bytes at %d: %v", st.name, st.read, pos, err)
		}
		if want := data[pos : pos+int64(st.read)]; !bytes.Equal(got, want) {
			t.Errorf("%s: bytes at %d: %s", st.name, pos, describeDiff(got, want))
		}
	}
	if _, err := r.Seek(0, io.SeekEnd); err != nil {
		t.Fatalf("Seek to end: %v", err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read at end = %d, %v; want 0, io.EOF", n, err)
	}
}

// testMissing: content that was never stored is ErrNotFound everywhere.
func testMissing(t *testing.T, h Harness) {
	data := []byte("never stored")
	for _, dgst := range []digest.Digest{digest.FromBytes(data), digest.SHA512.FromBytes(data)} {
		t.Run(string(dgst.Algorithm()), func(t *testing.T) {
			checkNotStored(t, h.Store, dgst)
			err := h.Store.Delete(context.Background(), dgst)
			wantClass(t, err, errdefs.ErrNotFound, "Delete of a missing blob")
		})
	}
}

// malformedDigests are not digests, or not ones any driver may store.
var malformedDigests = []digest.Digest{
	"",
	"sha256",
	"sha256:",
	"sha256:abc",
	digest.Digest("sha256:" + strings.Repeat("A", 64)),
	digest.Digest("sha256:" + strings.Repeat("a", 63) + "/"),
	digest.Digest("sha256:../../" + strings.Repeat("a", 58)),
	digest.Digest("sha256:" + strings.Repeat("a", 63) + "\x00"),
	digest.Digest("md5:" + strings.Repeat("a", 32)),
	digest.Digest("../sha256:" + strings.Repeat("a", 64)),
}

// testMalformedDigest: a malformed digest is ErrInvalid for every method
// that takes one, and a Commit refused for that reason leaves nothing
// behind once cancelled.
func testMalformedDigest(t *testing.T, h Harness) {
	ctx := context.Background()
	for _, dgst := range malformedDigests {
		t.Run(fmt.Sprintf("%q", dgst), func(t *testing.T) {
			_, err := h.Store.Stat(ctx, dgst)
			wantClass(t, err, errdefs.ErrInvalid, "Stat")
			r, err := h.Store.Open(ctx, dgst)
			if err == nil {
				r.Close()
			}
			wantClass(t, err, errdefs.ErrInvalid, "Open")
			wantClass(t, h.Store.Delete(ctx, dgst), errdefs.ErrInvalid, "Delete")

			w, err := h.Store.NewWriter(ctx, newID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			writeChunks(t, w, []byte("data"), chunk)
			_, err = w.Commit(ctx, dgst, 4)
			wantClass(t, err, errdefs.ErrInvalid, "Commit")
			if err := w.Cancel(ctx); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			checkNoLeftovers(t, h, "Cancel of a refused Commit")
		})
	}
}

// testCommitMismatch: a digest or size that does not match the data is
// ErrInvalid, nothing becomes readable, the data stays until Cancel, and
// Cancel leaves no garbage.
func testCommitMismatch(t *testing.T, h Harness) {
	data := testData(70_001, 3)
	size := int64(len(data))
	other := testData(70_001, 4)
	tests := []struct {
		name string
		dgst digest.Digest
		size int64
	}{
		{"sha256 of other data", digest.FromBytes(other), size},
		{"sha512 of other data", digest.SHA512.FromBytes(other), size},
		{"size too large", digest.FromBytes(data), size + 1},
		{"size too small", digest.FromBytes(data), size - 1},
		{"size zero", digest.FromBytes(data), 0},
		{"sha512 and wrong size", digest.SHA512.FromBytes(data), size + 10},
		{"sha256 of a prefix", digest.FromBytes(data[:size-1]), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w, err := h.Store.NewWriter(ctx, newID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			writeChunks(t, w, data, chunk)
			_, err = w.Commit(ctx, tc.dgst, tc.size)
			wantClass(t, err, errdefs.ErrInvalid, fmt.Sprintf("Commit(%s, %d)", tc.dgst, tc.size))
			checkNotStored(t, h.Store, tc.dgst)
			checkNotStored(t, h.Store, digest.FromBytes(data))
			checkHasLeftovers(t, h, "a refused Commit")
			if err := w.Cancel(ctx); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			checkNoLeftovers(t, h, "Cancel of a refused Commit")
			checkNotStored(t, h.Store, tc.dgst)
		})
	}
}

// testDedupe: committing content the store holds already succeeds, keeps
// one copy and leaves no garbage.
func testDedupe(t *testing.T, h Harness) {
	data := testData(50_000, 5)
	dgst := digest.FromBytes(data)
	first := put(t, h.Store, data, dgst)
	second := put(t, h.Store, data, dgst)
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second Commit of the same content (-first +second):\n%s", diff)
	}
	checkNoLeftovers(t, h, "a deduplicated Commit")
	checkStored(t, h.Store, dgst, data)
	// One copy: a single Delete removes the content.
	if err := h.Store.Delete(context.Background(), dgst); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkNotStored(t, h.Store, dgst)
}

// testZeroBytes: the empty blob is a blob like any other.
func testZeroBytes(t *testing.T, h Harness) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			dgst := alg.FromBytes(nil)
			w, err := h.Store.NewWriter(ctx, newID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			defer w.Cancel(ctx)
			info, err := w.Commit(ctx, dgst, 0)
			if err != nil {
				t.Fatalf("Commit of no data: %v", err)
			}
			if diff := cmp.Diff(blob.Info{Digest: dgst, Size: 0}, info); diff != "" {
				t.Errorf("Commit Info (-want +got):\n%s", diff)
			}
			checkStored(t, h.Store, dgst, []byte{})
			checkNoLeftovers(t, h, "Commit of no data")
		})
	}
}

// testSHA512: content committed under a sha512 digest is verified and
// stored under that digest only.
func testSHA512(t *testing.T, h Harness) {
	data := testData(300_007, 6)
	dgst := digest.SHA512.FromBytes(data)
	put(t, h.Store, data, dgst)
	checkStored(t, h.Store, dgst, data)
	checkNotStored(t, h.Store, digest.FromBytes(data))
	checkNoLeftovers(t, h, "Commit of a sha512 digest")
}

// testCancel: Cancel discards an upload (even with a done context, as a
// deferred Cancel runs), and after Commit it is a no-op.
func testCancel(t *testing.T, h Harness) {
	data := testData(10_000, 7)
	dgst := digest.FromBytes(data)
	t.Run("before commit", func(t *testing.T) {
		ctx := context.Background()
		w, err := h.Store.NewWriter(ctx, newID())
		if err != nil {
			t.Fatalf("NewWriter: %v", err)
		}
		writeChunks(t, w, data, chunk)
		st := saveState(t, w)
		checkHasLeftovers(t, h, "an upload")
		if err := w.Cancel(ctx); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		checkNoLeftovers(t, h, "Cancel")
		checkNotStored(t, h.Store, dgst)
		_, err = h.Store.ResumeWriter(ctx, w.ID(), st)
		wantClass(t, err, errdefs.ErrNotFound, "ResumeWriter after Cancel")
	})
	t.Run("with a done context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := h.Store.NewWriter(ctx, newID())
		if err != nil {
			t.Fatalf("NewWriter: %v", err)
		}
		writeChunks(t, w, data, chunk)
		saveState(t, w)
		cancel()
		if err := w.Cancel(ctx); err != nil {
			t.Fatalf("Cancel with a done context: %v", err)
		}
		checkNoLeftovers(t, h, "Cancel with a done context")
	})
	t.Run("after commit", func(t *testing.T) {
		ctx := context.Background()
		w, err := h.Store.NewWriter(ctx, newID())
		if err != nil {
			t.Fatalf("NewWriter: %v", err)
		}
		writeChunks(t, w, data, chunk)
		if _, err := w.Commit(ctx, dgst, int64(len(data))); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		for i := range 2 {
			if err := w.Cancel(ctx); err != nil {
				t.Fatalf("Cancel #%d after Commit: %v", i+1, err)
			}
		}
		checkStored(t, h.Store, dgst, data)
		checkNoLeftovers(t, h, "Commit and Cancel")
	})
}

// testDelete: deleted content is gone, deleting it again is ErrNotFound,
// and it can be stored again.
func testDelete(t *testing.T, h Harness) {
	ctx := context.Background()
	data := testData(20_000, 8)
	for _, dgst := range []digest.Digest{digest.FromBytes(data), digest.SHA512.FromBytes(data)} {
		t.Run(string(dgst.Algorithm()), func(t *testing.T) {
			put(t, h.Store, data, dgst)
			if err := h.Store.Delete(ctx, dgst); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			checkNotStored(t, h.Store, dgst)
			wantClass(t, h.Store.Delete(ctx, dgst), errdefs.ErrNotFound, "second Delete")
			put(t, h.Store, data, dgst)
			checkStored(t, h.Store, dgst, data)
		})
	}
}

// testConcurrentSameContent: many uploads of the same content, committed
// at once, all succeed and leave one blob and no garbage.
func testConcurrentSameContent(t *testing.T, h Harness) {
	const uploads = 8
	data := testData(256<<10+1, 9)
	dgst := digest.FromBytes(data)
	ctx := context.Background()
	writers := make([]blob.Writer, uploads)
	for i := range writers {
		w, err := h.Store.NewWriter(ctx, newID())
		if err != nil {
			t.Fatalf("NewWriter #%d: %v", i, err)
		}
		defer w.Cancel(ctx)
		writers[i] = w
	}
	// Write concurrently too, then commit all at once, so the commits race
	// as closely as the test can make them.
	var wg, ready sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, uploads)
	for i, w := range writers {
		ready.Add(1)
		wg.Go(func() {
			_, err := w.Write(data)
			ready.Done()
			if err != nil {
				errs[i] = fmt.Errorf("write: %w", err)
				return
			}
			<-start
			info, err := w.Commit(ctx, dgst, int64(len(data)))
			if err == nil && (info.Digest != dgst || info.Size != int64(len(data))) {
				err = fmt.Errorf("wrong Info %+v", info)
			}
			errs[i] = err
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload #%d: %v", i, err)
		}
	}
	checkStored(t, h.Store, dgst, data)
	checkNoLeftovers(t, h, "concurrent Commits of the same content")
	if err := h.Store.Delete(ctx, dgst); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkNotStored(t, h.Store, dgst)
}
