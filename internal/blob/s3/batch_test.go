package s3

import (
	"context"
	"fmt"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// TestRemoveMany deletes more keys than one DeleteObjects request takes,
// among them keys that never existed: all go, none is reported failed.
func TestRemoveMany(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	const n = 1005
	keys := make([]string, 0, n+2)
	errs := blob.ParallelEach(ctx, n, 16, func(ctx context.Context, i int) error {
		return s.putSmall(ctx, s.keys.prefix+fmt.Sprintf("junk/%04d", i), []byte("x"), minio.PutObjectOptions{})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("put junk/%04d: %v", i, err)
		}
		keys = append(keys, s.keys.prefix+fmt.Sprintf("junk/%04d", i))
	}
	keys = append(keys, s.keys.prefix+"junk/missing-a", s.keys.prefix+"junk/missing-b")
	if failed := s.removeMany(ctx, keys); len(failed) != 0 {
		t.Errorf("removeMany failed keys: %v", failed)
	}
	if got := bucketContents(t, s); len(got) != 0 {
		t.Errorf("bucket after removeMany holds %d objects, first %q", len(got), got[0])
	}
}

// TestDeleteManyBucket checks what DeleteMany leaves in the bucket: the
// kept blob's index and data object, nothing of the deleted ones (no
// marker, no data object), and a second DeleteMany of the same digests is
// a success that changes nothing.
func TestDeleteManyBucket(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	var doomed []digest.Digest
	for i := range 3 {
		d, _ := storeBlob(t, s, randomData(3000, uint64(i)), 1000)
		doomed = append(doomed, d)
	}
	keep := randomData(2000, 99)
	kept, id := storeBlob(t, s, keep, 1000)
	for pass := range 2 {
		for i, err := range s.DeleteMany(ctx, doomed) {
			if err != nil {
				t.Errorf("pass %d: DeleteMany %s: %v", pass, doomed[i], err)
			}
		}
		want := []string{indexKeyRel(kept), dataRel(id)} // sorted: blobs/ before data/
		if d := cmp.Diff(want, bucketContents(t, s)); d != "" {
			t.Errorf("pass %d: bucket (-want +got):\n%s", pass, d)
		}
	}
	checkContent(t, s, kept, keep)
}
