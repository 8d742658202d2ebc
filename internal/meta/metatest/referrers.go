package metatest

import (
	"testing"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
)

func referrerTests() []test {
	return []test{
		{"List", testListReferrers},
	}
}

// referrer builds a manifest of repoID that refers to subject.
func referrer(repoID int64, seed string, subject digest.Digest, artifactType string) *meta.Manifest {
	m := richManifest(repoID, seed)
	m.Subject = subject
	m.ArtifactType = artifactType
	return m
}

func testListReferrers(t *testing.T, s meta.Store) {
	r, other := mustRepo(t, s, "repo"), mustRepo(t, s, "other")
	image := newManifest(r.ID, "image")
	mustPutManifest(t, s, image)
	const sig, sbom = "application/vnd.dev.cosign.artifact.sig.v1+json", "application/spdx+json"
	var sigs, all []*meta.Manifest
	for _, seed := range []string{"sig 1", "sig 2", "sig 3"} {
		sigs = append(sigs, referrer(r.ID, seed, image.Digest, sig))
	}
	all = append(all, sigs...)
	all = append(all, referrer(r.ID, "sbom", image.Digest, sbom))
	untyped := referrer(r.ID, "untyped", image.Digest, "")
	untyped.Annotations = nil
	all = append(all, untyped)
	for _, m := range all {
		mustPutManifest(t, s, m)
	}
	// Neither a referrer of another subject nor one in another repository
	// is listed.
	mustPutManifest(t, s, referrer(r.ID, "elsewhere", testDigest("other subject"), sig))
	mustPutManifest(t, s, referrer(other.ID, "foreign", image.Digest, sig))

	tests := []struct {
		name         string
		subject      digest.Digest
		artifactType string
		want         []*meta.Manifest
	}{
		{"all", image.Digest, "", all},
		{"signatures", image.Digest, sig, sigs},
		{"sbom", image.Digest, sbom, all[3:4]},
		{"unknown type", image.Digest, "application/x-none", nil},
		{"no referrers", testDigest("lonely"), "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListReferrers(t.Context(), r.ID, tc.subject, tc.artifactType)
			if err != nil {
				t.Fatalf("ListReferrers: %v", err)
			}
			diff(t, "ListReferrers", byDigestWithoutContent(tc.want), got, cmpopts.EquateEmpty())
		})
	}
}

// byDigestWithoutContent is what ListReferrers returns for ms: digest
// order, no Content.
func byDigestWithoutContent(ms []*meta.Manifest) []meta.Manifest {
	out := make([]meta.Manifest, 0, len(ms))
	for _, m := range ms {
		out = append(out, *withoutContent(m))
	}
	sortManifests(out)
	return out
}
