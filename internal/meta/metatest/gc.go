package metatest

import (
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// RunGC runs one subtest per behaviour of the meta.Collector contract, each
// on a fresh store from newStore (as Run). The store must implement
// meta.Collector, and so must the Querier its WithTx passes.
func RunGC(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []test{
		{"GarbageIsUnreferencedAndUnleased", testGarbageBlobs},
		{"GarbagePaginates", testGarbagePaginates},
		{"DeleteRechecks", testDeleteRechecks},
		{"ClaimOutcomes", testClaimOutcomes},
		{"CommitLeaseFence", testCommitLeaseFence},
		{"LinkedBlobLeaseAndTouch", testTouchLinkedBlob},
		{"CollectorInTx", testCollectorInTx},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// collector returns s as a meta.Collector or stops the test.
func collector(t *testing.T, s meta.Store) meta.Collector {
	t.Helper()
	c, ok := s.(meta.Collector)
	if !ok {
		t.Fatalf("%T does not implement meta.Collector", s)
	}
	return c
}

func blobDigests(bs []meta.Blob) []digest.Digest {
	out := make([]digest.Digest, len(bs))
	for i, b := range bs {
		out[i] = b.Digest
	}
	return out
}

// gcFixture records: "layer" and "config" referenced by a manifest in repo
// a, "leased" under a live lease, "expired" under an expired one, and
// "loose" and "loose2" with nothing; "loose" is linked into repo a.
func gcFixture(t *testing.T, s meta.Store) (now time.Time, garbage []digest.Digest) {
	t.Helper()
	ctx := t.Context()
	now = at(48 * time.Hour)
	r := mustRepo(t, s, "a")
	layer := mustPutBlob(t, s, "layer", 10)
	config := mustPutBlob(t, s, "config", 2)
	leased := mustPutBlob(t, s, "leased", 3)
	expired := mustPutBlob(t, s, "expired", 4)
	loose := mustPutBlob(t, s, "loose", 5)
	loose2 := mustPutBlob(t, s, "loose2", 6)
	if err := s.LinkBlob(ctx, r.ID, loose); err != nil {
		t.Fatalf("LinkBlob: %v", err)
	}
	m := richManifest(r.ID, "m")
	m.ConfigDigest = config
	if err := s.PutManifest(ctx, m, []meta.Reference{{Digest: layer, Kind: meta.RefBlob, Size: 10}}); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	if err := s.LeaseBlob(ctx, leased, now.Add(time.Minute)); err != nil {
		t.Fatalf("LeaseBlob: %v", err)
	}
	if err := s.LeaseBlob(ctx, expired, now.Add(-time.Minute)); err != nil {
		t.Fatalf("LeaseBlob: %v", err)
	}
	return now, sortedDigests(expired, loose, loose2)
}

func testGarbageBlobs(t *testing.T, s meta.Store) {
	c := collector(t, s)
	now, want := gcFixture(t, s)
	got, err := c.GarbageBlobs(t.Context(), "", now, 0)
	if err != nil {
		t.Fatalf("GarbageBlobs: %v", err)
	}
	diff(t, "GarbageBlobs", want, blobDigests(got))
	// An hour earlier, the expired lease was still live.
	got, err = c.GarbageBlobs(t.Context(), "", now.Add(-time.Hour), 0)
	if err != nil {
		t.Fatalf("GarbageBlobs: %v", err)
	}
	diff(t, "GarbageBlobs an hour earlier", sortedDigests(testDigest("loose"), testDigest("loose2")), blobDigests(got))
}

func testGarbagePaginates(t *testing.T, s meta.Store) {
	c := collector(t, s)
	now, want := gcFixture(t, s)
	var got []digest.Digest
	after := digest.Digest("")
	for range 10 {
		page, err := c.GarbageBlobs(t.Context(), after, now, 2)
		if err != nil {
			t.Fatalf("GarbageBlobs: %v", err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, blobDigests(page)...)
		after = page[len(page)-1].Digest
	}
	diff(t, "GarbageBlobs pages", want, got)
}

func testDeleteRechecks(t *testing.T, s meta.Store) {
	ctx := t.Context()
	c := collector(t, s)
	now, garbage := gcFixture(t, s)
	// Between mark and delete, "loose2" is leased again (a push): it stays.
	loose2 := testDigest("loose2")
	if err := s.LeaseBlob(ctx, loose2, now.Add(time.Hour)); err != nil {
		t.Fatalf("LeaseBlob: %v", err)
	}
	all := append(slices.Clone(garbage), testDigest("layer"), testDigest("config"), testDigest("absent"))
	deleted, err := c.DeleteGarbageBlobs(ctx, all, "run-1", now)
	if err != nil {
		t.Fatalf("DeleteGarbageBlobs: %v", err)
	}
	want := sortedDigests(testDigest("expired"), testDigest("loose"))
	diff(t, "deleted", want, sortedDigests(blobDigests(deleted)...))
	for _, d := range want {
		if _, err := s.GetBlob(ctx, d); !errdefs.IsNotFound(err) {
			t.Errorf("GetBlob(%s) after delete: %v, want not found", d, err)
		}
		if until, err := s.BlobLease(ctx, d); err != nil || !until.IsZero() {
			t.Errorf("BlobLease(%s) after delete = %v, %v; want none", d, until, err)
		}
	}
	if repos, err := s.ListBlobRepositories(ctx, testDigest("loose"), 0); err != nil || len(repos) != 0 {
		t.Errorf("links of a deleted blob = %v, %v; want none", repos, err)
	}
	for _, d := range []digest.Digest{loose2, testDigest("layer"), testDigest("config"), testDigest("leased")} {
		if _, err := s.GetBlob(ctx, d); err != nil {
			t.Errorf("GetBlob(%s) of a kept blob: %v", d, err)
		}
	}
	ts, err := c.ListTombstones(ctx, "", 0)
	if err != nil {
		t.Fatalf("ListTombstones: %v", err)
	}
	var tsd []digest.Digest
	for _, x := range ts {
		tsd = append(tsd, x.Digest)
		if x.RunID != "run-1" || x.Claimed || !x.DeletedAt.Equal(now) {
			t.Errorf("tombstone %+v: want run-1, unclaimed, deleted at %v", x, now)
		}
	}
	diff(t, "tombstones", want, tsd)
	var paged []digest.Digest
	for after := digest.Digest(""); ; {
		page, err := c.ListTombstones(ctx, after, 1)
		if err != nil {
			t.Fatalf("ListTombstones page: %v", err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 1 {
			t.Fatalf("ListTombstones(limit 1) returned %d", len(page))
		}
		paged = append(paged, page[0].Digest)
		after = page[0].Digest
	}
	diff(t, "tombstones a page at a time", want, paged)
	// A second run deleting the same digests finds nothing left (two
	// replicas collecting at once).
	again, err := c.DeleteGarbageBlobs(ctx, all, "run-2", now)
	if err != nil || len(again) != 0 {
		t.Errorf("DeleteGarbageBlobs again = %v, %v; want nothing", again, err)
	}
}

func testClaimOutcomes(t *testing.T, s meta.Store) {
	ctx := t.Context()
	c := collector(t, s)
	now, _ := gcFixture(t, s)
	expired, loose, loose2 := testDigest("expired"), testDigest("loose"), testDigest("loose2")
	if _, err := c.DeleteGarbageBlobs(ctx, []digest.Digest{expired, loose, loose2}, "run", now); err != nil {
		t.Fatalf("DeleteGarbageBlobs: %v", err)
	}
	// loose is pushed again; loose2 is leased by an upload about to commit.
	if err := s.PutBlob(ctx, meta.Blob{Digest: loose, Size: 5}); err != nil {
		t.Fatalf("PutBlob: %v", err)
	}
	if err := c.LeaseBlobForCommit(ctx, loose2, now.Add(time.Hour)); err != nil {
		t.Fatalf("LeaseBlobForCommit(unclaimed): %v", err)
	}
	cases := []struct {
		d    digest.Digest
		want meta.ClaimResult
	}{
		{expired, meta.ClaimOK},
		{expired, meta.ClaimOK}, // a claim is taken again after a crash
		{loose, meta.ClaimRevived},
		{loose, meta.ClaimGone},
		{loose2, meta.ClaimLeased},
		{testDigest("never"), meta.ClaimGone},
	}
	for _, tc := range cases {
		got, err := c.ClaimTombstone(ctx, tc.d, now)
		if err != nil || got != tc.want {
			t.Errorf("ClaimTombstone(%s) = %v, %v; want %v", tc.d, got, err, tc.want)
		}
	}
	if err := c.DeleteTombstone(ctx, expired); err != nil {
		t.Fatalf("DeleteTombstone: %v", err)
	}
	if err := c.DeleteTombstone(ctx, expired); err != nil {
		t.Fatalf("DeleteTombstone twice: %v", err)
	}
	ts, err := c.ListTombstones(ctx, "", 0)
	if err != nil {
		t.Fatalf("ListTombstones: %v", err)
	}
	if len(ts) != 1 || ts[0].Digest != loose2 {
		t.Errorf("tombstones left = %+v, want only the leased one", ts)
	}
}

func testCommitLeaseFence(t *testing.T, s meta.Store) {
	ctx := t.Context()
	c := collector(t, s)
	now, _ := gcFixture(t, s)
	loose := testDigest("loose")
	if _, err := c.DeleteGarbageBlobs(ctx, []digest.Digest{loose}, "run", now); err != nil {
		t.Fatalf("DeleteGarbageBlobs: %v", err)
	}
	// Unclaimed: a push may lease and clear it.
	if err := c.ClearTombstone(ctx, testDigest("no tombstone")); err != nil {
		t.Errorf("ClearTombstone(none): %v", err)
	}
	if res, err := c.ClaimTombstone(ctx, loose, now); err != nil || res != meta.ClaimOK {
		t.Fatalf("ClaimTombstone = %v, %v; want ClaimOK", res, err)
	}
	wantErr(t, "LeaseBlobForCommit(claimed)", c.LeaseBlobForCommit(ctx, loose, now.Add(time.Hour)), errdefs.ErrConflict)
	if until, err := s.BlobLease(ctx, loose); err != nil || !until.IsZero() {
		t.Errorf("a refused commit lease left a lease: %v, %v", until, err)
	}
	wantErr(t, "ClearTombstone(claimed)", c.ClearTombstone(ctx, loose), errdefs.ErrConflict)
	if err := c.DeleteTombstone(ctx, loose); err != nil {
		t.Fatalf("DeleteTombstone: %v", err)
	}
	if err := c.LeaseBlobForCommit(ctx, loose, now.Add(time.Hour)); err != nil {
		t.Errorf("LeaseBlobForCommit after the sweep: %v", err)
	}
}

func testTouchLinkedBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	c := collector(t, s)
	now, _ := gcFixture(t, s)
	r := mustRepo(t, s, "a")
	loose := testDigest("loose")
	b, until, err := c.LinkedBlobLease(ctx, r.ID, loose)
	if err != nil || b.Digest != loose || b.Size != 5 || !until.IsZero() {
		t.Fatalf("LinkedBlobLease = %+v, %v, %v; want loose without lease", b, until, err)
	}
	if _, err := c.TouchLinkedBlob(ctx, r.ID, loose, now.Add(time.Hour)); err != nil {
		t.Fatalf("TouchLinkedBlob: %v", err)
	}
	_, until, err = c.LinkedBlobLease(ctx, r.ID, loose)
	if err != nil || !until.Equal(now.Add(time.Hour)) {
		t.Errorf("lease after touch = %v, %v; want %v", until, err, now.Add(time.Hour))
	}
	other := mustRepo(t, s, "b")
	_, _, err = c.LinkedBlobLease(ctx, other.ID, loose)
	wantErr(t, "LinkedBlobLease(unlinked)", err, errdefs.ErrNotFound)
	_, err = c.TouchLinkedBlob(ctx, other.ID, loose, now.Add(time.Hour))
	wantErr(t, "TouchLinkedBlob(unlinked)", err, errdefs.ErrNotFound)
	// Touching leases, so the blob is no longer garbage.
	got, err := c.GarbageBlobs(ctx, "", now, 0)
	if err != nil {
		t.Fatalf("GarbageBlobs: %v", err)
	}
	if slices.Contains(blobDigests(got), loose) {
		t.Errorf("a touched blob is garbage")
	}
}

func testCollectorInTx(t *testing.T, s meta.Store) {
	ctx := t.Context()
	now, _ := gcFixture(t, s)
	loose := testDigest("loose")
	err := s.WithTx(ctx, func(tx meta.Querier) error {
		c, ok := tx.(meta.Collector)
		if !ok {
			t.Fatalf("the WithTx querier %T does not implement meta.Collector", tx)
		}
		if _, err := c.DeleteGarbageBlobs(ctx, []digest.Digest{loose}, "run", now); err != nil {
			return err
		}
		return c.ClearTombstone(ctx, loose)
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	ts, err := collector(t, s).ListTombstones(ctx, "", 0)
	if err != nil || len(ts) != 0 {
		t.Errorf("tombstones = %+v, %v; want none", ts, err)
	}
}
