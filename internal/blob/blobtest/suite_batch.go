package blobtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// deleterOnly hides every ability of a store but Delete, so blob.DeleteMany
// takes its fallback path.
type deleterOnly struct{ blob.Deleter }

// testDeleteMany holds blob.DeleteMany, through the driver's
// blob.BatchDeleter if it has one and through the per-blob fallback, to
// the contract: the named blobs go, a digest never stored is a success, a
// malformed digest fails alone, other blobs stay intact, nothing is left
// behind, and a done context deletes nothing it reports as deleted.
func testDeleteMany(t *testing.T, h Harness) {
	ctx := context.Background()
	paths := []struct {
		name string
		del  blob.Deleter
	}{
		{"batch", h.Store},
		{"fallback", deleterOnly{h.Store}},
	}
	for n, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			var doomed, kept []digest.Digest
			content := map[digest.Digest][]byte{}
			for i := range 6 {
				data := testData(1000+i, uint64(100*n+i))
				d := digest.FromBytes(data)
				if i == 5 {
					d = digest.SHA512.FromBytes(data)
				}
				put(t, h.Store, data, d)
				content[d] = data
				if i%2 == 0 || i == 5 {
					doomed = append(doomed, d)
				} else {
					kept = append(kept, d)
				}
			}
			never := digest.FromString(fmt.Sprintf("never stored %d", n))
			malformed := digest.Digest("sha256:not-hex")
			dgsts := append([]digest.Digest{never, malformed}, doomed...)

			errs := blob.DeleteMany(ctx, p.del, dgsts, 3)
			if len(errs) != len(dgsts) {
				t.Fatalf("DeleteMany returned %d errors for %d digests", len(errs), len(dgsts))
			}
			for i, d := range dgsts {
				if d == malformed {
					wantClass(t, errs[i], errdefs.ErrInvalid, "DeleteMany of a malformed digest")
				} else if errs[i] != nil {
					t.Errorf("DeleteMany: %s: %v", d, errs[i])
				}
			}
			for _, d := range doomed {
				checkNotStored(t, h.Store, d)
			}
			for _, d := range kept {
				checkStored(t, h.Store, d, content[d])
			}
			checkNoLeftovers(t, h, "DeleteMany")

			done, cancel := context.WithCancel(ctx)
			cancel()
			for i, err := range blob.DeleteMany(done, p.del, kept, 3) {
				if err == nil {
					t.Errorf("DeleteMany with a done context reported %s deleted", kept[i])
				}
			}
			for _, d := range kept {
				checkStored(t, h.Store, d, content[d])
			}
			if errs := blob.DeleteMany(ctx, p.del, nil, 3); len(errs) != 0 {
				t.Errorf("DeleteMany(nil) = %v, want no errors", errs)
			}
		})
	}
}
