package registry_test

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/opencontainers/go-digest"
)

// A blob HEAD renews the blob's lease to now+GCGrace only once less than
// half of the grace is left: a write at most every GCGrace/2 per blob.
func TestStatBlobRenewsLeaseAtHalfGrace(t *testing.T) {
	const grace = time.Hour
	e := newEnv(t, func(o *registry.Options) { o.BlobLease = time.Minute; o.GCGrace = grace })
	d := e.putBlob(t, "app", []byte("layer"))
	lease := func() time.Time {
		t.Helper()
		until, err := e.meta.BlobLease(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		return until
	}
	steps := []struct {
		name    string
		advance time.Duration
		// renewed says the HEAD moved the lease to now+grace.
		renewed bool
	}{
		{"upload lease shorter than grace/2", 0, true},
		{"more than half left", 20 * time.Minute, false},
		{"just over half left", 9 * time.Minute, false},
		{"less than half left", 2 * time.Minute, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.clock.Advance(st.advance)
			before := lease()
			if _, err := e.svc.StatBlob(t.Context(), "app", d); err != nil {
				t.Fatalf("StatBlob: %v", err)
			}
			want := before
			if st.renewed {
				want = e.clock.Now().Add(grace).Truncate(time.Microsecond)
			}
			if got := lease(); !got.Equal(want) {
				t.Errorf("lease = %v, want %v", got, want)
			}
		})
	}
}

// A sweeper that claimed a tombstone and stopped (a crash) does not block
// pushes of that digest for good: after the wait the push finishes the
// sweep and commits fresh bytes.
func TestCommitTakesOverStalledSweep(t *testing.T) {
	defer registry.SetSweepWait(20 * time.Millisecond)()
	e := newEnv(t)
	data := []byte("layer collected while a sweeper stalls")
	d := e.putBlob(t, "app", data)
	e.clock.Advance(testLease + time.Minute)
	ctx := t.Context()
	deleted, err := e.meta.DeleteGarbageBlobs(ctx, []digest.Digest{d}, "run", e.clock.Now())
	if err != nil || len(deleted) != 1 {
		t.Fatalf("DeleteGarbageBlobs = %v, %v; want the blob", deleted, err)
	}
	if res, err := e.meta.ClaimTombstone(ctx, d, e.clock.Now()); err != nil || res != meta.ClaimOK {
		t.Fatalf("ClaimTombstone = %v, %v", res, err)
	}
	// The stalled sweeper never deletes the bytes or the tombstone.
	if got := e.putBlob(t, "app", data); got != d {
		t.Fatalf("pushed %s, want %s", got, d)
	}
	if _, err := e.svc.StatBlob(ctx, "app", d); err != nil {
		t.Errorf("StatBlob after the push: %v", err)
	}
	rc, err := e.blobs.Open(ctx, d)
	if err != nil {
		t.Fatalf("bytes after the push: %v", err)
	}
	rc.Close()
	if ts, err := e.meta.ListTombstones(ctx, "", 0); err != nil || len(ts) != 0 {
		t.Errorf("tombstones = %v, %v; want none", ts, err)
	}
}
