package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// newUploadID returns a fresh upload id.
func newUploadID() string { return "up-" + strings.ToLower(rand.Text()) }

// randomData returns n pseudo-random bytes, the same for the same seed.
func randomData(n int, seed uint64) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	p := make([]byte, n)
	_, _ = mrand.NewChaCha8(key).Read(p)
	return p
}

// bucketContents lists what the store's bucket holds under its prefix, as
// keys relative to the prefix, plus "multipart upload of <key>" for each
// multipart upload in progress; sorted.
func bucketContents(tb testing.TB, s *Store) []string {
	tb.Helper()
	ctx := context.Background()
	var got []string
	objs, err := s.listKeys(ctx, s.keys.prefix)
	if err != nil {
		tb.Fatalf("list objects: %v", err)
	}
	for _, oi := range objs {
		got = append(got, strings.TrimPrefix(oi.Key, s.keys.prefix))
	}
	err = s.eachMultipartUpload(ctx, s.keys.prefix, func(u minio.ObjectMultipartInfo) error {
		got = append(got, "multipart upload of "+strings.TrimPrefix(u.Key, s.keys.prefix))
		return nil
	})
	if err != nil {
		tb.Fatalf("list multipart uploads: %v", err)
	}
	slices.Sort(got)
	return got
}

// storeBlob uploads p as one session of writes of n bytes and commits it
// under its sha256; it returns the digest and the upload id.
func storeBlob(tb testing.TB, s *Store, p []byte, n int) (digest.Digest, string) {
	tb.Helper()
	ctx := context.Background()
	id := newUploadID()
	w, err := s.NewWriter(ctx, id)
	if err != nil {
		tb.Fatalf("NewWriter: %v", err)
	}
	defer w.Cancel(ctx)
	writeAll(tb, w, p, n)
	dgst := digest.FromBytes(p)
	if _, err := w.Commit(ctx, dgst, int64(len(p))); err != nil {
		tb.Fatalf("Commit: %v", err)
	}
	return dgst, id
}

// writeAll writes p to w in writes of n bytes.
func writeAll(tb testing.TB, w blob.Writer, p []byte, n int) {
	tb.Helper()
	for off := 0; off < len(p); off += n {
		end := min(off+n, len(p))
		if k, err := w.Write(p[off:end]); err != nil || k != end-off {
			tb.Fatalf("Write(%d bytes) at %d = %d, %v", end-off, off, k, err)
		}
	}
}

// saveAndClose flushes w, takes its state and closes it.
func saveAndClose(tb testing.TB, w blob.Writer) []byte {
	tb.Helper()
	if err := w.Flush(context.Background()); err != nil {
		tb.Fatalf("Flush at %d: %v", w.Size(), err)
	}
	st, err := w.State()
	if err != nil {
		tb.Fatalf("State at %d: %v", w.Size(), err)
	}
	if err := w.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	return st
}

// readAll reads blob dgst from s.
func readAll(tb testing.TB, s *Store, dgst digest.Digest) []byte {
	tb.Helper()
	r, err := s.Open(context.Background(), dgst)
	if err != nil {
		tb.Fatalf("Open(%s): %v", dgst, err)
	}
	defer r.Close()
	p, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("read %s: %v", dgst, err)
	}
	return p
}

// checkContent fails unless s serves exactly want under dgst.
func checkContent(tb testing.TB, s *Store, dgst digest.Digest, want []byte) {
	tb.Helper()
	if got := readAll(tb, s, dgst); !bytes.Equal(got, want) {
		tb.Fatalf("content of %s: got %d bytes, want %d (equal: false)", dgst, len(got), len(want))
	}
}

// indexKeyRel returns the index key of dgst relative to the prefix.
func indexKeyRel(dgst digest.Digest) string {
	return blobsDir + "/" + dgst.Algorithm().String() + "/" + dgst.Encoded()
}
