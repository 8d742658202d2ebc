package blobtest

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/opencontainers/go-digest"
)

// testContextCancellation: the operations that can take long stop when
// their context is done, without leaving a blob or garbage behind. Write
// has no context of its own; it honours the one the writer was opened
// with.
func testContextCancellation(t *testing.T, h Harness) {
	data := testData(100_003, 18)
	tests := []struct {
		name string
		// resumed opens the writer with ResumeWriter rather than
		// NewWriter; either way it holds the first half of data.
		resumed bool
		// act does the cancelled operation and returns its error; cancel
		// has been called before.
		act func(ctx context.Context, w blob.Writer) error
	}{
		{"Write", false, func(_ context.Context, w blob.Writer) error {
			_, err := w.Write(data[len(data)/2:])
			return err
		}},
		{"Write after resume", true, func(_ context.Context, w blob.Writer) error {
			_, err := w.Write(data[len(data)/2:])
			return err
		}},
		{"Flush", false, func(ctx context.Context, w blob.Writer) error {
			return w.Flush(ctx)
		}},
		{"Commit sha256", false, func(ctx context.Context, w blob.Writer) error {
			_, err := w.Commit(ctx, digest.FromBytes(data[:len(data)/2]), int64(len(data)/2))
			return err
		}},
		{"Commit sha512", false, func(ctx context.Context, w blob.Writer) error {
			_, err := w.Commit(ctx, digest.SHA512.FromBytes(data[:len(data)/2]), int64(len(data)/2))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := cancellableWriter(t, ctx, h, data[:len(data)/2], tc.resumed)
			cancel()
			err := tc.act(ctx, w)
			wantClass(t, err, context.Canceled, tc.name+" with a cancelled context")
			for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
				checkNotStored(t, h.Store, alg.FromBytes(data[:len(data)/2]))
			}
			if err := w.Cancel(ctx); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			checkNoLeftovers(t, h, "Cancel of a cancelled upload")
		})
	}
}

// cancellableWriter returns a writer opened with ctx (by NewWriter, or by
// ResumeWriter after a first session) that holds p.
func cancellableWriter(t *testing.T, ctx context.Context, h Harness, p []byte, resumed bool) blob.Writer {
	t.Helper()
	if !resumed {
		w, err := h.Store.NewWriter(ctx, newID())
		if err != nil {
			t.Fatalf("NewWriter: %v", err)
		}
		writeChunks(t, w, p, chunk)
		return w
	}
	w, err := h.Store.NewWriter(context.Background(), newID())
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	writeChunks(t, w, p, chunk)
	st := saveState(t, w)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	w, err = h.Store.ResumeWriter(ctx, w.ID(), st)
	if err != nil {
		t.Fatalf("ResumeWriter: %v", err)
	}
	return w
}
