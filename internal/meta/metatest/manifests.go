package metatest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
)

func manifestTests() []test {
	return []test{
		{"RoundTrip", testManifestRoundTrip},
		{"PutTwiceIsNoOp", testPutManifestTwice},
		{"SameDigestTwoRepositories", testManifestTwoRepos},
		{"PutNeedsContent", testPutManifestNeedsContent},
		{"GetMissing", testGetManifestMissing},
		{"GetTagged", testGetTaggedManifest},
		{"Delete", testDeleteManifest},
		{"DeleteTaggedIsRefused", testDeleteTaggedManifest},
		{"MissingManifests", testMissingManifests},
		{"ListParents", testListManifestParents},
		{"ListBlobUsers", testListBlobUsers},
	}
}

// richManifest sets every field a caller can set.
func richManifest(repoID int64, seed string) *meta.Manifest {
	m := newManifest(repoID, seed)
	m.ArtifactType = "application/vnd.example.sbom+json"
	m.Subject = testDigest("subject of " + seed)
	m.Annotations = map[string]string{
		"org.opencontainers.image.created": "2026-05-06T07:08:09Z",
		"com.example/ünïcode":              "välue with \"quotes\"",
		"empty":                            "",
	}
	m.PushedAt = at(1500 * time.Microsecond)
	m.PushedBy = "robot$ci"
	return m
}

// withoutContent is m as a method asked not to load Content returns it.
func withoutContent(m *meta.Manifest) *meta.Manifest {
	c := *m
	c.Content = nil
	return &c
}

func testManifestRoundTrip(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	rich := richManifest(r.ID, "rich")
	plain := newManifest(r.ID, "plain") // no annotations, subject, pusher
	plain.PushedBy = ""
	mustPutManifest(t, s, rich)
	mustPutManifest(t, s, plain)
	for _, m := range []*meta.Manifest{rich, plain} {
		got, err := s.GetManifest(ctx, r.ID, m.Digest, true)
		if err != nil {
			t.Fatalf("GetManifest(%s, content): %v", m.Digest, err)
		}
		diff(t, "GetManifest with content", m, got, cmpopts.EquateEmpty())
		if !got.LastPulledAt.IsZero() {
			t.Errorf("LastPulledAt = %v, want zero (never pulled)", got.LastPulledAt)
		}
		wantUTC(t, "PushedAt", got.PushedAt)

		got, err = s.GetManifest(ctx, r.ID, m.Digest, false)
		if err != nil {
			t.Fatalf("GetManifest(%s, no content): %v", m.Digest, err)
		}
		if len(got.Content) != 0 {
			t.Errorf("GetManifest without content returned %d content bytes", len(got.Content))
		}
		diff(t, "GetManifest without content", withoutContent(m), got, cmpopts.EquateEmpty())
	}
}

func testPutManifestTwice(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	first := newManifest(r.ID, "m")
	blob := testDigest("layer")
	mustPutManifest(t, s, first, meta.Reference{Digest: blob, Kind: meta.RefBlob, Size: 5})

	second := *first
	second.MediaType = "application/vnd.docker.distribution.manifest.v2+json"
	second.PushedBy = "mallory"
	second.PushedAt = at(time.Hour)
	other := testDigest("other layer")
	mustPutManifest(t, s, &second, meta.Reference{Digest: other, Kind: meta.RefBlob, Size: 6})

	got, err := s.GetManifest(ctx, r.ID, first.Digest, true)
	if err != nil {
		t.Fatalf("GetManifest: %v", err)
	}
	diff(t, "GetManifest keeps the first row", first, got, cmpopts.EquateEmpty())
	users, err := s.ListBlobUsers(ctx, r.ID, other, 10)
	if err != nil {
		t.Fatalf("ListBlobUsers: %v", err)
	}
	if len(users) != 0 {
		t.Errorf("the second put added references: users of the other layer = %v", users)
	}
	users, err = s.ListBlobUsers(ctx, r.ID, blob, 10)
	if err != nil {
		t.Fatalf("ListBlobUsers: %v", err)
	}
	diff(t, "users of the first layer", []digest.Digest{first.Digest}, users)
}

func testManifestTwoRepos(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a, b := mustRepo(t, s, "a"), mustRepo(t, s, "b")
	ma, mb := newManifest(a.ID, "same"), newManifest(b.ID, "same")
	mb.PushedBy = "bob"
	blob := testDigest("layer")
	ref := meta.Reference{Digest: blob, Kind: meta.RefBlob, Size: 1}
	mustPutManifest(t, s, ma, ref)
	mustPutManifest(t, s, mb, ref)
	if ma.Digest != mb.Digest {
		t.Fatal("fixture: the two manifests should share a digest")
	}
	got, err := s.GetManifest(ctx, b.ID, mb.Digest, false)
	if err != nil {
		t.Fatalf("GetManifest(b): %v", err)
	}
	if got.RepositoryID != b.ID || got.PushedBy != "bob" {
		t.Errorf("GetManifest(b) = repository %d pushed by %q, want %d and bob", got.RepositoryID, got.PushedBy, b.ID)
	}
	if err := s.DeleteManifest(ctx, a.ID, ma.Digest); err != nil {
		t.Fatalf("DeleteManifest(a): %v", err)
	}
	_, err = s.GetManifest(ctx, a.ID, ma.Digest, false)
	wantErr(t, "GetManifest(a) after delete", err, errdefs.ErrNotFound)
	if _, err := s.GetManifest(ctx, b.ID, mb.Digest, true); err != nil {
		t.Errorf("GetManifest(b) after deleting a's copy: %v", err)
	}
	users, err := s.ListBlobUsers(ctx, b.ID, blob, 10)
	if err != nil {
		t.Fatalf("ListBlobUsers(b): %v", err)
	}
	diff(t, "b's references survive", []digest.Digest{mb.Digest}, users)
}

func testPutManifestNeedsContent(t *testing.T, s meta.Store) {
	r := mustRepo(t, s, "repo")
	m := newManifest(r.ID, "empty")
	m.Content = nil
	if err := s.PutManifest(t.Context(), m, nil); err == nil {
		t.Error("PutManifest without content succeeded")
	}
}

func testGetManifestMissing(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r, other := mustRepo(t, s, "repo"), mustRepo(t, s, "other")
	m := newManifest(r.ID, "m")
	mustPutManifest(t, s, m)
	for _, content := range []bool{true, false} {
		_, err := s.GetManifest(ctx, r.ID, testDigest("absent"), content)
		wantErr(t, "GetManifest(absent)", err, errdefs.ErrNotFound)
		_, err = s.GetManifest(ctx, other.ID, m.Digest, content)
		wantErr(t, "GetManifest(other repository)", err, errdefs.ErrNotFound)
	}
}

func testGetTaggedManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r, other := mustRepo(t, s, "repo"), mustRepo(t, s, "other")
	v1, v2 := richManifest(r.ID, "v1"), newManifest(r.ID, "v2")
	mustPutManifest(t, s, v1)
	mustPutManifest(t, s, v2)
	mustPutTag(t, s, r.ID, "latest", v1.Digest)

	got, err := s.GetTaggedManifest(ctx, r.ID, "latest", true)
	if err != nil {
		t.Fatalf("GetTaggedManifest: %v", err)
	}
	diff(t, "GetTaggedManifest with content", v1, got, cmpopts.EquateEmpty())
	got, err = s.GetTaggedManifest(ctx, r.ID, "latest", false)
	if err != nil {
		t.Fatalf("GetTaggedManifest: %v", err)
	}
	diff(t, "GetTaggedManifest without content", withoutContent(v1), got, cmpopts.EquateEmpty())

	mustPutTag(t, s, r.ID, "latest", v2.Digest)
	got, err = s.GetTaggedManifest(ctx, r.ID, "latest", true)
	if err != nil {
		t.Fatalf("GetTaggedManifest after move: %v", err)
	}
	diff(t, "GetTaggedManifest after move", v2, got, cmpopts.EquateEmpty())

	_, err = s.GetTaggedManifest(ctx, r.ID, "absent", true)
	wantErr(t, "GetTaggedManifest(absent tag)", err, errdefs.ErrNotFound)
	_, err = s.GetTaggedManifest(ctx, other.ID, "latest", false)
	wantErr(t, "GetTaggedManifest(other repository)", err, errdefs.ErrNotFound)
	_, err = s.GetTaggedManifest(ctx, r.ID, string(v1.Digest), false)
	wantErr(t, "GetTaggedManifest(a digest is no tag)", err, errdefs.ErrNotFound)
}

func testDeleteManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	child, keep := newManifest(r.ID, "child"), newManifest(r.ID, "keep")
	mustPutManifest(t, s, child)
	mustPutManifest(t, s, keep)
	blob := testDigest("layer")
	index := newManifest(r.ID, "index")
	mustPutManifest(t, s, index,
		meta.Reference{Digest: child.Digest, Kind: meta.RefManifest, Size: child.Size},
		meta.Reference{Digest: blob, Kind: meta.RefBlob, Size: 3})
	other := newManifest(r.ID, "other user")
	mustPutManifest(t, s, other, meta.Reference{Digest: blob, Kind: meta.RefBlob, Size: 3})

	if err := s.DeleteManifest(ctx, r.ID, index.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	_, err := s.GetManifest(ctx, r.ID, index.Digest, false)
	wantErr(t, "GetManifest after delete", err, errdefs.ErrNotFound)
	parents, err := s.ListManifestParents(ctx, r.ID, child.Digest)
	if err != nil {
		t.Fatalf("ListManifestParents: %v", err)
	}
	diff(t, "parents after delete", []digest.Digest(nil), parents, cmpopts.EquateEmpty())
	users, err := s.ListBlobUsers(ctx, r.ID, blob, 10)
	if err != nil {
		t.Fatalf("ListBlobUsers: %v", err)
	}
	diff(t, "blob users after delete", []digest.Digest{other.Digest}, users)
	wantErr(t, "DeleteManifest again", s.DeleteManifest(ctx, r.ID, index.Digest), errdefs.ErrNotFound)
	for _, m := range []*meta.Manifest{child, keep, other} {
		if _, err := s.GetManifest(ctx, r.ID, m.Digest, false); err != nil {
			t.Errorf("GetManifest(%s) of an undeleted manifest: %v", m.Digest, err)
		}
	}
}

// testDeleteTaggedManifest: DeleteManifest leaves the tags that point at
// the manifest, and a tag must never point at nothing, so deleting a
// tagged manifest fails and changes nothing.
func testDeleteTaggedManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	m := newManifest(r.ID, "m")
	mustPutManifest(t, s, m)
	mustPutTag(t, s, r.ID, "latest", m.Digest)
	if err := s.DeleteManifest(ctx, r.ID, m.Digest); err == nil {
		t.Fatal("DeleteManifest of a tagged manifest succeeded")
	}
	if _, err := s.GetTaggedManifest(ctx, r.ID, "latest", true); err != nil {
		t.Errorf("GetTaggedManifest after the refused delete: %v", err)
	}
	if _, err := s.DeleteTag(ctx, r.ID, "latest"); err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	if err := s.DeleteManifest(ctx, r.ID, m.Digest); err != nil {
		t.Errorf("DeleteManifest once untagged: %v", err)
	}
}

func testMissingManifests(t *testing.T, s meta.Store) {
	r, other := mustRepo(t, s, "repo"), mustRepo(t, s, "other")
	a, b := newManifest(r.ID, "a"), newManifest(r.ID, "b")
	mustPutManifest(t, s, a)
	mustPutManifest(t, s, b)
	elsewhere := newManifest(other.ID, "elsewhere")
	mustPutManifest(t, s, elsewhere)
	x := testDigest("absent")
	tests := []struct {
		name string
		in   []digest.Digest
		want []digest.Digest
	}{
		{"nil", nil, nil},
		{"all held", []digest.Digest{b.Digest, a.Digest}, nil},
		{"keeps order", []digest.Digest{elsewhere.Digest, a.Digest, x}, []digest.Digest{elsewhere.Digest, x}},
		{"reverse", []digest.Digest{x, b.Digest, elsewhere.Digest}, []digest.Digest{x, elsewhere.Digest}},
		{"duplicates", []digest.Digest{x, a.Digest, x, a.Digest}, []digest.Digest{x, x}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.MissingManifests(t.Context(), r.ID, tc.in)
			if err != nil {
				t.Fatalf("MissingManifests: %v", err)
			}
			diff(t, "MissingManifests", tc.want, got, cmpopts.EquateEmpty())
		})
	}
}

// sortedDigests returns ds sorted, for results whose order the contract
// leaves open.
func sortedDigests(ds ...digest.Digest) []digest.Digest {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

func testListManifestParents(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r, other := mustRepo(t, s, "repo"), mustRepo(t, s, "other")
	amd64, arm64 := newManifest(r.ID, "amd64"), newManifest(r.ID, "arm64")
	mustPutManifest(t, s, amd64)
	mustPutManifest(t, s, arm64)
	both, one := newManifest(r.ID, "index both"), newManifest(r.ID, "index one")
	mustPutManifest(t, s, both,
		meta.Reference{Digest: amd64.Digest, Kind: meta.RefManifest, Size: amd64.Size},
		meta.Reference{Digest: arm64.Digest, Kind: meta.RefManifest, Size: arm64.Size})
	mustPutManifest(t, s, one,
		meta.Reference{Digest: amd64.Digest, Kind: meta.RefManifest, Size: amd64.Size})
	// A blob reference with the same digest does not make a parent.
	blobUser := newManifest(r.ID, "blob user")
	mustPutManifest(t, s, blobUser, meta.Reference{Digest: arm64.Digest, Kind: meta.RefBlob, Size: 1})
	// Nor does a parent in another repository.
	foreign := newManifest(other.ID, "foreign index")
	mustPutManifest(t, s, foreign, meta.Reference{Digest: arm64.Digest, Kind: meta.RefManifest, Size: 1})

	tests := []struct {
		name  string
		child digest.Digest
		want  []digest.Digest
	}{
		{"two parents", amd64.Digest, sortedDigests(both.Digest, one.Digest)},
		{"one parent", arm64.Digest, []digest.Digest{both.Digest}},
		{"no parent", both.Digest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListManifestParents(ctx, r.ID, tc.child)
			if err != nil {
				t.Fatalf("ListManifestParents: %v", err)
			}
			slices.Sort(got)
			diff(t, "ListManifestParents", tc.want, got, cmpopts.EquateEmpty())
		})
	}
}

func testListBlobUsers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r, other := mustRepo(t, s, "repo"), mustRepo(t, s, "other")
	layer := testDigest("layer")
	var users []digest.Digest
	for _, seed := range []string{"u1", "u2", "u3"} {
		m := newManifest(r.ID, seed)
		mustPutManifest(t, s, m,
			meta.Reference{Digest: m.ConfigDigest, Kind: meta.RefBlob, Size: 10},
			meta.Reference{Digest: layer, Kind: meta.RefBlob, Size: 100})
		users = append(users, m.Digest)
	}
	// A manifest reference of the same digest is no blob use, and another
	// repository's users are not this one's.
	index := newManifest(r.ID, "index")
	mustPutManifest(t, s, index, meta.Reference{Digest: layer, Kind: meta.RefManifest, Size: 100})
	foreign := newManifest(other.ID, "foreign")
	mustPutManifest(t, s, foreign, meta.Reference{Digest: layer, Kind: meta.RefBlob, Size: 100})

	got, err := s.ListBlobUsers(ctx, r.ID, layer, 10)
	if err != nil {
		t.Fatalf("ListBlobUsers: %v", err)
	}
	slices.Sort(got)
	diff(t, "ListBlobUsers", sortedDigests(users...), got)

	limited, err := s.ListBlobUsers(ctx, r.ID, layer, 2)
	if err != nil {
		t.Fatalf("ListBlobUsers(limit 2): %v", err)
	}
	if len(limited) != 2 {
		t.Fatalf("ListBlobUsers(limit 2) = %v, want 2 digests", limited)
	}
	for _, d := range limited {
		if !slices.Contains(users, d) {
			t.Errorf("ListBlobUsers(limit 2) returned %s, which does not use the blob", d)
		}
	}
	if limited[0] == limited[1] {
		t.Errorf("ListBlobUsers(limit 2) returned %s twice", limited[0])
	}
	none, err := s.ListBlobUsers(ctx, r.ID, testDigest("unused"), 10)
	if err != nil || len(none) != 0 {
		t.Errorf("ListBlobUsers(unused) = %v, %v; want none", none, err)
	}
}

// sortManifests sorts ms by digest.
func sortManifests(ms []meta.Manifest) {
	slices.SortFunc(ms, func(a, b meta.Manifest) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
}
