package blobtest

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
)

// benchSizes are a small layer or config (64 KiB) and a mid-sized layer
// (16 MiB).
var benchSizes = []int{64 << 10, 16 << 20}

// benchWrite is the size of each Write in the commit benchmarks, the
// buffer size of io.Copy from an HTTP request body.
const benchWrite = 32 << 10

// RunBenchmarks measures a driver's throughput (reported as MB/s):
// Commit/<size> uploads and commits a blob of that size per iteration,
// written in 32 KiB pieces as io.Copy from a request body does; Read/<size>
// opens a stored blob and reads it to the end. newHarness must return a
// fresh, empty store, cleaned up through b.
func RunBenchmarks(b *testing.B, newHarness func(b *testing.B) Harness) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("Commit/%s", sizeName(size)), func(b *testing.B) {
			benchCommit(b, newHarness(b), size)
		})
	}
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("Read/%s", sizeName(size)), func(b *testing.B) {
			benchRead(b, newHarness(b), size)
		})
	}
}

// benchCommit uploads and commits the same content each iteration and
// deletes it, untimed, afterwards, so every commit does the full work
// rather than finding the blob stored already.
func benchCommit(b *testing.B, h Harness, size int) {
	ctx := context.Background()
	data := testData(size, 20)
	dgst := digest.FromBytes(data)
	b.SetBytes(int64(size))
	for b.Loop() {
		w, err := h.Store.NewWriter(ctx, newID())
		if err != nil {
			b.Fatalf("NewWriter: %v", err)
		}
		writeChunks(b, w, data, benchWrite)
		if _, err := w.Commit(ctx, dgst, int64(size)); err != nil {
			b.Fatalf("Commit: %v", err)
		}
		b.StopTimer()
		if err := h.Store.Delete(ctx, dgst); err != nil {
			b.Fatalf("Delete: %v", err)
		}
		b.StartTimer()
	}
}

// benchRead opens and reads one stored blob to the end each iteration,
// through a 256 KiB buffer.
func benchRead(b *testing.B, h Harness, size int) {
	ctx := context.Background()
	data := testData(size, 21)
	dgst := digest.FromBytes(data)
	put(b, h.Store, data, dgst)
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(size))
	for b.Loop() {
		r, err := h.Store.Open(ctx, dgst)
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		// Hide WriterTo and ReaderFrom so that the driver's Read into buf
		// is what is measured.
		n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{r}, buf)
		r.Close()
		if err != nil || n != int64(size) {
			b.Fatalf("read %d bytes: got %d, %v", size, n, err)
		}
	}
}

// sizeName prints a size in KiB or MiB.
func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
