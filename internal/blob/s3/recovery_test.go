package s3

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// TestCrashRecovery stops uploads and deletes at each point where a
// crash leaves objects behind, by running the driver's own steps up to
// that point and dropping the writer. The upload must then be listed by
// ListUploads, and AbortUpload (what the sweep calls for an upload
// without a session) must leave exactly the blobs that are stored: none
// when the crash came before the index was written, the blob when it came
// after.
func TestCrashRecovery(t *testing.T) {
	tests := []struct {
		name string
		size int
		// crash runs the steps before the crash on a writer holding the
		// data and returns whether the blob is stored afterwards.
		crash func(t *testing.T, s *Store, w *writer, dgst digest.Digest) (stored bool)
	}{
		{"parts written, never flushed", 2*MinPartSize + 5, func(t *testing.T, s *Store, w *writer, dgst digest.Digest) bool {
			return false
		}},
		{"data object written, no index", 1000, func(t *testing.T, s *Store, w *writer, dgst digest.Digest) bool {
			mustDo(t, "materialize", w.materialize(context.Background(), dgst))
			return false
		}},
		{"multipart completed, no index", MinPartSize + 5, func(t *testing.T, s *Store, w *writer, dgst digest.Digest) bool {
			mustDo(t, "materialize", w.materialize(context.Background(), dgst))
			return false
		}},
		{"index written, marker left", 1000, func(t *testing.T, s *Store, w *writer, dgst digest.Digest) bool {
			ctx := context.Background()
			mustDo(t, "materialize", w.materialize(ctx, dgst))
			_, err := s.installIndex(ctx, dgst, w.id, w.h.Size())
			mustDo(t, "installIndex", err)
			return true
		}},
		{"multipart index written, marker left", MinPartSize + 5, func(t *testing.T, s *Store, w *writer, dgst digest.Digest) bool {
			ctx := context.Background()
			mustDo(t, "materialize", w.materialize(ctx, dgst))
			_, err := s.installIndex(ctx, dgst, w.id, w.h.Size())
			mustDo(t, "installIndex", err)
			return true
		}},
		{"second commit: index written, marker left", 1000, func(t *testing.T, s *Store, w *writer, dgst digest.Digest) bool {
			// A first Commit for another digest wrote the data object
			// with that digest in its metadata and failed verification.
			ctx := context.Background()
			_, err := w.Commit(ctx, digest.SHA512.FromString("other"), -1)
			if !errdefs.IsInvalid(err) {
				t.Fatalf("Commit for another digest = %v, want ErrInvalid", err)
			}
			mustDo(t, "materialize", w.materialize(ctx, dgst))
			_, err = s.installIndex(ctx, dgst, w.id, w.h.Size())
			mustDo(t, "installIndex", err)
			return true
		}},
		{"delete stopped after the index", 1000, func(t *testing.T, s *Store, w *writer, dgst digest.Digest) bool {
			ctx := context.Background()
			mustDo(t, "materialize", w.materialize(ctx, dgst))
			_, err := s.installIndex(ctx, dgst, w.id, w.h.Size())
			mustDo(t, "installIndex", err)
			s.finishCommit(ctx, w.id, w.tails, false)
			// Delete's first two steps.
			mustDo(t, "mark", s.putSmall(ctx, s.keys.marker(w.id), []byte(dgst), minio.PutObjectOptions{}))
			key, _ := s.keys.index(dgst)
			mustDo(t, "remove index", s.core.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}))
			return false
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, _ := newTestStore(t, Options{PartSize: MinPartSize})
			data := randomData(tc.size, uint64(50+i))
			dgst := digest.FromBytes(data)
			id := newUploadID()
			bw, err := s.NewWriter(ctx, id)
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			w := bw.(*writer)
			writeAll(t, w, data, 64<<10)
			stored := tc.crash(t, s, w, dgst)
			w.end() // the process is gone: nothing more runs

			var listed []string
			err = s.ListUploads(ctx, func(id string, mod time.Time) error {
				listed = append(listed, id)
				return nil
			})
			if err != nil {
				t.Fatalf("ListUploads: %v", err)
			}
			if diff := cmp.Diff([]string{id}, listed); diff != "" {
				t.Errorf("ListUploads after the crash (-want +got):\n%s", diff)
			}
			if err := s.AbortUpload(ctx, id, nil); err != nil {
				t.Fatalf("AbortUpload: %v", err)
			}
			var want []string
			if stored {
				want = []string{indexKeyRel(dgst), "data/" + id}
				slices.Sort(want)
			}
			if diff := cmp.Diff(want, bucketContents(t, s)); diff != "" {
				t.Errorf("bucket after AbortUpload (-want +got):\n%s", diff)
			}
			if stored {
				checkContent(t, s, dgst, data)
			} else if _, err := s.Stat(ctx, dgst); !errdefs.IsNotFound(err) {
				t.Errorf("Stat after AbortUpload = %v, want ErrNotFound", err)
			}
		})
	}
}

// mustDo fails the test if err is not nil.
func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestStaleCache: a replica that cached where a blob's data lives still
// reads the right bytes after another replica deleted the blob and
// stored it again (in a new data object), and reports ErrNotFound once it
// is deleted for good.
func TestStaleCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, b := newTestStore(t, Options{})
	other := openTestStore(t, b.URL, Options{})
	data := randomData(70_000, 60)
	dgst, first := storeBlob(t, s, data, 32<<10)
	checkContent(t, s, dgst, data) // cached now
	if e, ok := s.cache.get(dgst); !ok || e.id != first {
		t.Fatalf("cache entry of %s = %+v, %v; want upload %s", dgst, e, ok, first)
	}
	mustDo(t, "Delete", other.Delete(ctx, dgst))
	_, second := storeBlob(t, other, data, 32<<10)
	checkContent(t, s, dgst, data)
	if e, _ := s.cache.get(dgst); e.id != second {
		t.Errorf("cache after reading the stored-again blob names upload %s, want %s", e.id, second)
	}
	mustDo(t, "Delete", other.Delete(ctx, dgst))
	if _, err := s.Open(ctx, dgst); !errdefs.IsNotFound(err) {
		t.Errorf("Open of a blob deleted by another replica = %v, want ErrNotFound", err)
	}
	if got := bucketContents(t, s); len(got) != 0 {
		t.Errorf("bucket after Delete holds %q", got)
	}
}

func TestIndexCacheBound(t *testing.T) {
	c := newIndexCache(2)
	d := func(i int) digest.Digest { return digest.FromBytes([]byte{byte(i)}) }
	c.put(d(1), indexEntry{id: "a"})
	c.put(d(2), indexEntry{id: "b"})
	c.get(d(1)) // 1 is now the most recently used
	c.put(d(3), indexEntry{id: "c"})
	var got []string
	for i := 1; i <= 3; i++ {
		if e, ok := c.get(d(i)); ok {
			got = append(got, e.id)
		}
	}
	if diff := cmp.Diff([]string{"a", "c"}, got); diff != "" {
		t.Errorf("entries after exceeding the bound (-want +got):\n%s", diff)
	}
	if c.len() != 2 {
		t.Errorf("len = %d, want 2", c.len())
	}
	c.evict(d(1))
	if _, ok := c.get(d(1)); ok || c.len() != 1 {
		t.Errorf("after evict: entry still there or len %d", c.len())
	}
	var disabled *indexCache
	disabled.put(d(1), indexEntry{})
	if _, ok := disabled.get(d(1)); ok {
		t.Error("a disabled cache returned an entry")
	}
}

// TestBrokenIndex: a commit that finds an index naming a missing data
// object, or not written by this driver, replaces it rather than
// deduplicating against it, and the content is readable afterwards.
func TestBrokenIndex(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
	}{
		{"data object missing", map[string]string{metaData: "data/" + "gone-upload", metaSize: "5000"}},
		{"wrong size", map[string]string{metaData: "data/" + "gone-upload", metaSize: "7"}},
		{"foreign metadata", map[string]string{metaData: "../elsewhere", metaSize: "x"}},
		{"no metadata", nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, _ := newTestStore(t, Options{})
			data := randomData(5000, uint64(70+i))
			dgst := digest.FromBytes(data)
			key, _ := s.keys.index(dgst)
			mustDo(t, "plant index", s.putSmall(ctx, key, nil, minio.PutObjectOptions{UserMetadata: tc.meta}))
			_, id := storeBlob(t, s, data, 1000)
			checkIndex(t, s, dgst, id, int64(len(data)))
			checkContent(t, s, dgst, data)
		})
	}
}
