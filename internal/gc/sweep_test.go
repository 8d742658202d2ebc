package gc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/opencontainers/go-digest"
)

// TestFailedDeleteKeepsTombstone: when the store cannot delete one blob's
// bytes, the others of the batch still go, the run reports the failure,
// the failed blob keeps its tombstone, and the next run finishes it.
func TestFailedDeleteKeepsTombstone(t *testing.T) {
	e := newEnv(t, backends[0])
	_, garbage := fixture(t, e)
	fs, ok := e.blobs.(*filesystem.Store)
	if !ok {
		t.Fatalf("embedded blob store is %T", e.blobs)
	}
	// A non-empty directory where the first blob's file was: unlinking
	// it fails whatever the user (the tests may run as root).
	stuck := garbage[0]
	p := blobPath(fs, stuck)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(p, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	rep, err := e.collector(t).Run(t.Context(), Options{})
	if err == nil {
		t.Fatalf("Run with an undeletable blob succeeded: %+v", rep)
	}
	if rep.Deleted != 1 || len(rep.Digests) != 1 || rep.Digests[0] != garbage[1] {
		t.Errorf("report = %+v, want only %s reclaimed", rep, garbage[1])
	}
	if e.stored(t, garbage[1]) {
		t.Errorf("%s survived beside the failed blob", garbage[1])
	}
	ts, err := e.gc.ListTombstones(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Digest != stuck {
		t.Fatalf("tombstones after the failure = %+v, want only %s", ts, stuck)
	}

	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	rep, err = e.collector(t).Run(t.Context(), Options{})
	if err != nil {
		t.Fatalf("next run: %v", err)
	}
	if rep.Resumed != 1 {
		t.Errorf("next run resumed %d, want 1", rep.Resumed)
	}
	if ts, err := e.gc.ListTombstones(t.Context(), "", 0); err != nil || len(ts) != 0 {
		t.Errorf("tombstones left: %v, %v", ts, err)
	}
}

// blobPath is where the filesystem driver keeps dgst (its documented
// layout: <root>/blobs/<alg>/<hex[0:2]>/<hex>).
func blobPath(s *filesystem.Store, dgst digest.Digest) string {
	hex := dgst.Encoded()
	return filepath.Join(s.Root(), "blobs", dgst.Algorithm().String(), hex[:2], hex)
}
