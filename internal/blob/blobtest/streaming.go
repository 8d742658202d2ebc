package blobtest

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/opencontainers/go-digest"
)

// memBound is how much the heap may grow, and how much may be allocated in
// all, while a large blob is written, committed and read back. It is far
// below the blob sizes, so a driver that buffers a blob (or re-reads it
// into memory to verify it) fails, and far above what streaming needs.
const memBound = 16 << 20

// testStreaming: writing, committing and reading a blob much larger than
// memBound, generated on the fly, does not make memory grow with its size.
// Both commit paths are covered: sha256 (hashed while writing) and sha512
// (verified by re-reading).
func testStreaming(t *testing.T, h Harness) {
	tests := []struct {
		name            string
		alg             digest.Algorithm
		size, shortSize int64
	}{
		{"sha256", digest.SHA256, 256 << 20, 48 << 20},
		{"sha512", digest.SHA512, 64 << 20, 32 << 20},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if testing.Short() {
				size = tc.shortSize
			}
			streamLarge(t, h, tc.alg, size, uint64(1000+i))
		})
	}
}

// streamLarge writes size bytes of stream seed as one blob, commits it
// under alg, reads it back and checks the memory statistics after each
// step against memBound.
func streamLarge(t *testing.T, h Harness, alg digest.Algorithm, size int64, seed uint64) {
	ctx := context.Background()
	// Everything the test itself needs is allocated before the baseline.
	buf, want := make([]byte, 1<<20), make([]byte, 1<<20)
	dgst, err := alg.FromReader(newStream(seed, size))
	if err != nil {
		t.Fatalf("digest of the stream: %v", err)
	}
	id := newID()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	checkMem := func(after string) {
		t.Helper()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		grown := int64(m.HeapInuse) - int64(base.HeapInuse)
		alloc := m.TotalAlloc - base.TotalAlloc
		t.Logf("after %s: heap in use grew by %d KiB, %d KiB allocated", after, grown>>10, alloc>>10)
		if grown > memBound || alloc > memBound {
			t.Errorf("after %s of a %d MiB blob: heap in use grew by %d KiB and %d KiB were allocated; want both under %d KiB (memory must not grow with blob size)",
				after, size>>20, grown>>10, alloc>>10, memBound>>10)
		}
	}

	w, err := h.Store.NewWriter(ctx, id)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	defer w.Cancel(ctx)
	if n, err := io.CopyBuffer(w, newStream(seed, size), buf); err != nil || n != size {
		t.Fatalf("write %d bytes: wrote %d, %v", size, n, err)
	}
	checkMem("writing")
	if _, err := w.Commit(ctx, dgst, size); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkMem("Commit")

	r, err := h.Store.Open(ctx, dgst)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	expect := newStream(seed, size)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := int(min(int64(len(buf)), size-off))
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			t.Fatalf("read back at %d: %v", off, err)
		}
		expect.Read(want[:n])
		if !bytes.Equal(buf[:n], want[:n]) {
			t.Fatalf("read back at %d: %s", off, describeDiff(buf[:n], want[:n]))
		}
	}
	if n, err := r.Read(buf[:1]); n != 0 || err != io.EOF {
		t.Fatalf("read past %d bytes = %d, %v; want 0, io.EOF", size, n, err)
	}
	checkMem("reading back")
	checkNoLeftovers(t, h, "Commit of a large blob")
	if err := h.Store.Delete(ctx, dgst); err != nil {
		t.Errorf("Delete: %v", err)
	}
}
