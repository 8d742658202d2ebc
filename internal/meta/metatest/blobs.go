package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
)

func blobTests() []test {
	return []test{
		{"PutIsIdempotent", testPutBlobIdempotent},
		{"GetMissing", testGetBlobMissing},
		{"LinkNeedsRecordedBlob", testLinkNeedsBlob},
		{"LinkTwice", testLinkTwice},
		{"LinkedOnlyInLinkedRepository", testLinkedOnlyThere},
		{"Unlink", testUnlink},
		{"MissingLinks", testMissingLinks},
		{"ListBlobRepositories", testListBlobRepositories},
		{"LeaseKeepsLaterExpiry", testLeaseKeepsLater},
	}
}

func testPutBlobIdempotent(t *testing.T, s meta.Store) {
	ctx := t.Context()
	first := meta.Blob{Digest: testDigest("layer"), Size: 1234, CreatedAt: baseTime}
	if err := s.PutBlob(ctx, first); err != nil {
		t.Fatalf("PutBlob: %v", err)
	}
	second := meta.Blob{Digest: first.Digest, Size: 99, CreatedAt: at(time.Hour)}
	if err := s.PutBlob(ctx, second); err != nil {
		t.Fatalf("PutBlob again: %v", err)
	}
	got, err := s.GetBlob(ctx, first.Digest)
	if err != nil {
		t.Fatalf("GetBlob: %v", err)
	}
	diff(t, "GetBlob keeps the first record", &first, got)
	wantUTC(t, "CreatedAt", got.CreatedAt)
}

func testGetBlobMissing(t *testing.T, s meta.Store) {
	mustPutBlob(t, s, "present", 1)
	_, err := s.GetBlob(t.Context(), testDigest("absent"))
	wantErr(t, "GetBlob(absent)", err, errdefs.ErrNotFound)
}

func testLinkNeedsBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	d := testDigest("never recorded")
	wantErr(t, "LinkBlob(unrecorded)", s.LinkBlob(ctx, r.ID, d), errdefs.ErrNotFound)
	_, err := s.GetLinkedBlob(ctx, r.ID, d)
	wantErr(t, "GetLinkedBlob after failed link", err, errdefs.ErrNotFound)
}

func testLinkTwice(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	d := mustPutBlob(t, s, "layer", 10)
	for i := range 2 {
		if err := s.LinkBlob(ctx, r.ID, d); err != nil {
			t.Fatalf("LinkBlob #%d: %v", i+1, err)
		}
	}
	got, err := s.GetLinkedBlob(ctx, r.ID, d)
	if err != nil {
		t.Fatalf("GetLinkedBlob: %v", err)
	}
	diff(t, "GetLinkedBlob", &meta.Blob{Digest: d, Size: 10, CreatedAt: baseTime}, got)
}

func testLinkedOnlyThere(t *testing.T, s meta.Store) {
	ctx := t.Context()
	linked := mustRepo(t, s, "linked")
	other := mustRepo(t, s, "other")
	d := mustPutBlob(t, s, "layer", 10)
	if err := s.LinkBlob(ctx, linked.ID, d); err != nil {
		t.Fatalf("LinkBlob: %v", err)
	}
	if _, err := s.GetLinkedBlob(ctx, linked.ID, d); err != nil {
		t.Errorf("GetLinkedBlob(linked): %v", err)
	}
	_, err := s.GetLinkedBlob(ctx, other.ID, d)
	wantErr(t, "GetLinkedBlob(other repository)", err, errdefs.ErrNotFound)
	_, err = s.GetLinkedBlob(ctx, linked.ID, testDigest("absent"))
	wantErr(t, "GetLinkedBlob(unrecorded)", err, errdefs.ErrNotFound)
}

func testUnlink(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	d := mustPutBlob(t, s, "layer", 10)
	keep := mustPutBlob(t, s, "kept", 20)
	for _, dg := range []digest.Digest{d, keep} {
		if err := s.LinkBlob(ctx, r.ID, dg); err != nil {
			t.Fatalf("LinkBlob: %v", err)
		}
	}
	if err := s.UnlinkBlob(ctx, r.ID, d); err != nil {
		t.Fatalf("UnlinkBlob: %v", err)
	}
	_, err := s.GetLinkedBlob(ctx, r.ID, d)
	wantErr(t, "GetLinkedBlob after unlink", err, errdefs.ErrNotFound)
	wantErr(t, "UnlinkBlob again", s.UnlinkBlob(ctx, r.ID, d), errdefs.ErrNotFound)
	if _, err := s.GetBlob(ctx, d); err != nil {
		t.Errorf("GetBlob after unlink (the record stays): %v", err)
	}
	if _, err := s.GetLinkedBlob(ctx, r.ID, keep); err != nil {
		t.Errorf("GetLinkedBlob of the other link: %v", err)
	}
}

// testMissingLinks reads "those of dgsts ... in the order given" as a
// filter: a missing digest given twice is returned twice.
func testMissingLinks(t *testing.T, s meta.Store) {
	r := mustRepo(t, s, "repo")
	other := mustRepo(t, s, "other")
	a, b, c := mustPutBlob(t, s, "a", 1), mustPutBlob(t, s, "b", 2), mustPutBlob(t, s, "c", 3)
	unrecorded := testDigest("unrecorded")
	for _, d := range []digest.Digest{a, c} {
		if err := s.LinkBlob(t.Context(), r.ID, d); err != nil {
			t.Fatalf("LinkBlob: %v", err)
		}
	}
	if err := s.LinkBlob(t.Context(), other.ID, b); err != nil {
		t.Fatalf("LinkBlob: %v", err)
	}
	tests := []struct {
		name string
		in   []digest.Digest
		want []digest.Digest
	}{
		{"nil", nil, nil},
		{"empty", []digest.Digest{}, nil},
		{"all linked", []digest.Digest{c, a}, nil},
		{"keeps order", []digest.Digest{unrecorded, a, b, c}, []digest.Digest{unrecorded, b}},
		{"reverse order", []digest.Digest{b, a, unrecorded}, []digest.Digest{b, unrecorded}},
		{"duplicates", []digest.Digest{b, a, b, a, unrecorded, b}, []digest.Digest{b, b, unrecorded, b}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.MissingLinks(t.Context(), r.ID, tc.in)
			if err != nil {
				t.Fatalf("MissingLinks: %v", err)
			}
			diff(t, "MissingLinks", tc.want, got, cmpopts.EquateEmpty())
		})
	}
}

func testLeaseKeepsLater(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := mustPutBlob(t, s, "leased", 1)
	got, err := s.BlobLease(ctx, d)
	if err != nil || !got.IsZero() {
		t.Fatalf("BlobLease before any lease = %v, %v; want zero time, nil", got, err)
	}
	steps := []struct {
		name  string
		until time.Time
		want  time.Time
	}{
		{"first", at(time.Hour), at(time.Hour)},
		{"earlier is ignored", at(time.Minute), at(time.Hour)},
		{"later extends", at(2 * time.Hour), at(2 * time.Hour)},
		{"same is kept", at(2 * time.Hour), at(2 * time.Hour)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := s.LeaseBlob(ctx, d, st.until); err != nil {
				t.Fatalf("LeaseBlob: %v", err)
			}
			got, err := s.BlobLease(ctx, d)
			if err != nil {
				t.Fatalf("BlobLease: %v", err)
			}
			if !got.Equal(st.want) {
				t.Errorf("BlobLease = %v, want %v", got, st.want)
			}
			wantUTC(t, "BlobLease", got)
		})
	}
	other, err := s.BlobLease(ctx, mustPutBlob(t, s, "unleased", 1))
	if err != nil || !other.IsZero() {
		t.Errorf("BlobLease of another blob = %v, %v; want zero time, nil", other, err)
	}
}

func testListBlobRepositories(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := mustPutBlob(t, s, "shared", 10)
	lone := mustPutBlob(t, s, "lone", 10)
	names := []string{"b/x", "a-b", "a/b", "aB", "unlinked"}
	for _, n := range names {
		r := mustRepo(t, s, n)
		if n == "unlinked" {
			continue
		}
		if err := s.LinkBlob(ctx, r.ID, d); err != nil {
			t.Fatalf("LinkBlob(%s): %v", n, err)
		}
	}
	got, err := s.ListBlobRepositories(ctx, d, 0)
	if err != nil {
		t.Fatalf("ListBlobRepositories: %v", err)
	}
	diff(t, "ListBlobRepositories in byte order", []string{"a-b", "a/b", "aB", "b/x"}, got)
	got, err = s.ListBlobRepositories(ctx, d, 2)
	if err != nil {
		t.Fatalf("ListBlobRepositories(limit 2): %v", err)
	}
	diff(t, "ListBlobRepositories(limit 2)", []string{"a-b", "a/b"}, got)
	got, err = s.ListBlobRepositories(ctx, lone, 10)
	if err != nil {
		t.Fatalf("ListBlobRepositories(unlinked blob): %v", err)
	}
	if len(got) != 0 {
		t.Errorf("ListBlobRepositories(unlinked blob) = %v, want none", got)
	}
}
