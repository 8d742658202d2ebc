package oci_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// referrers fetches the referrers index of subject in repo and checks its
// envelope.
func (c *client) referrers(repo string, subject digest.Digest, query string) (*response, v1.Index) {
	c.t.Helper()
	r := c.do("GET", "/v2/"+repo+"/referrers/"+subject.String()+query, nil)
	wantStatus(c.t, r, http.StatusOK)
	wantHeader(c.t, r, "Content-Type", v1.MediaTypeImageIndex)
	var idx v1.Index
	if err := json.Unmarshal(r.body, &idx); err != nil {
		c.t.Fatalf("referrers body %q: %v", r.body, err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != v1.MediaTypeImageIndex {
		c.t.Errorf("referrers index has schemaVersion %d, mediaType %q", idx.SchemaVersion, idx.MediaType)
	}
	if !strings.Contains(string(r.body), `"manifests":[`) {
		c.t.Errorf("referrers body %s has no manifests array", r.body)
	}
	return r, idx
}

func TestReferrersEmpty(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	base := c.pushImage("ref/empty", "v1", "empty referrers")
	tests := []struct {
		label, repo string
		subject     digest.Digest
	}{
		{"unknown repository", "ref/none", base.digest},
		{"subject without referrers", "ref/empty", base.digest},
		{"unknown subject", "ref/empty", digest.FromString("unknown")},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			r, idx := c.with(t).referrers(tt.repo, tt.subject, "")
			if len(idx.Manifests) != 0 {
				t.Errorf("referrers: %+v, want none", idx.Manifests)
			}
			wantHeader(t, r, "OCI-Filters-Applied", "")
		})
	}
	t.Run("malformed digest", func(t *testing.T) {
		r := c.with(t).do("GET", "/v2/ref/empty/referrers/sha256:nothex", nil)
		wantError(t, r, http.StatusBadRequest, "DIGEST_INVALID")
	})
}

// Artifact types of the referrers pushed by pushReferrers.
const (
	sigType    = "application/vnd.example.signature"
	sbomConfig = "application/vnd.example.sbom.config"
	bundleType = "application/vnd.example.bundle"
)

// referrerSet is a subject with referrers of each kind, and the
// descriptors the referrers API must list for them.
type referrerSet struct {
	subject           digest.Digest
	sig, sbom, bundle v1.Descriptor
	sbomDigest        digest.Digest
}

// pushReferrers pushes to repo a subject image, a signature artifact, an
// SBOM image without artifactType, an index artifact, and manifests that
// must not be listed (another subject, another repository).
func pushReferrers(t *testing.T, c *client, repo string) referrerSet {
	t.Helper()
	base := c.pushImage(repo, "v1", "referred to")
	subject := &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: base.digest, Size: int64(len(base.manifest))}
	sig := newImage(t, "signature", func(m *v1.Manifest) {
		m.ArtifactType = sigType
		m.Config = v1.DescriptorEmptyJSON
		m.Subject = subject
		m.Annotations = map[string]string{"org.example.signer": "alice", "org.opencontainers.image.created": "2026-01-01T00:00:00Z"}
	})
	sig.config = []byte("{}")
	c.pushBlobs(repo, sig)
	c.pushManifest(repo, sig.digest.String(), v1.MediaTypeImageManifest, sig.manifest)

	// No artifactType: the config media type stands in for it.
	sbomCfg := []byte(`{"format":"spdx"}`)
	sbom := newImage(t, "sbom", func(m *v1.Manifest) {
		m.Config = desc(sbomConfig, sbomCfg)
		m.Subject = subject
	})
	sbom.config = sbomCfg
	c.pushBlobs(repo, sbom)
	c.pushManifest(repo, sbom.digest.String(), v1.MediaTypeImageManifest, sbom.manifest)

	bundle := mustJSON(t, v1.Index{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageIndex,
		ArtifactType: bundleType,
		Manifests:    []v1.Descriptor{desc(v1.MediaTypeImageManifest, sig.manifest)},
		Subject:      subject,
		Annotations:  map[string]string{"org.example.kind": "bundle"},
	})
	c.pushManifest(repo, digestOf(bundle), v1.MediaTypeImageIndex, bundle)

	// Not referrers of base: another subject, and another repository.
	other := c.pushImage(repo, "v2", "another subject")
	c.pushImage(repo, "", "refers elsewhere", func(m *v1.Manifest) {
		m.ArtifactType = sigType
		m.Subject = &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: other.digest, Size: int64(len(other.manifest))}
	})
	c.pushBlobs("ref/other", sig)
	c.pushManifest("ref/other", sig.digest.String(), v1.MediaTypeImageManifest, sig.manifest)

	sigDesc := v1.Descriptor{
		MediaType: v1.MediaTypeImageManifest, ArtifactType: sigType, Digest: sig.digest, Size: int64(len(sig.manifest)),
		Annotations: map[string]string{"org.example.signer": "alice", "org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
	}
	sbomDesc := v1.Descriptor{
		MediaType: v1.MediaTypeImageManifest, ArtifactType: sbomConfig, Digest: sbom.digest, Size: int64(len(sbom.manifest)),
	}
	bundleDesc := v1.Descriptor{
		MediaType: v1.MediaTypeImageIndex, ArtifactType: bundleType, Digest: digest.FromBytes(bundle), Size: int64(len(bundle)),
		Annotations: map[string]string{"org.example.kind": "bundle"},
	}
	return referrerSet{subject: base.digest, sig: sigDesc, sbom: sbomDesc, bundle: bundleDesc, sbomDigest: sbom.digest}
}

func TestReferrers(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	const repo = "ref/list"
	set := pushReferrers(t, c, repo)
	sigDesc, sbomDesc, bundleDesc := set.sig, set.sbom, set.bundle
	byDigest := cmpopts.SortSlices(func(a, b v1.Descriptor) bool { return a.Digest < b.Digest })

	tests := []struct {
		label, query, filters string
		want                  []v1.Descriptor
	}{
		{"all", "", "", []v1.Descriptor{sigDesc, sbomDesc, bundleDesc}},
		{"signatures", "?artifactType=" + url.QueryEscape(sigType), "artifactType", []v1.Descriptor{sigDesc}},
		{"by config media type", "?artifactType=" + url.QueryEscape(sbomConfig), "artifactType", []v1.Descriptor{sbomDesc}},
		{"index", "?artifactType=" + url.QueryEscape(bundleType), "artifactType", []v1.Descriptor{bundleDesc}},
		{"no match", "?artifactType=" + url.QueryEscape("application/vnd.example.none"), "artifactType", nil},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			r, idx := c.with(t).referrers(repo, set.subject, tt.query)
			wantHeader(t, r, "OCI-Filters-Applied", tt.filters)
			if diff := cmp.Diff(tt.want, idx.Manifests, byDigest, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("referrers (-want +got):\n%s", diff)
			}
			if !slices.IsSortedFunc(idx.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) }) {
				t.Errorf("referrers are not in digest order")
			}
		})
	}
	t.Run("deleted referrer is gone", func(t *testing.T) {
		c := c.with(t)
		wantStatus(t, c.do("DELETE", "/v2/"+repo+"/manifests/"+set.sbomDigest.String(), nil), http.StatusAccepted)
		_, idx := c.referrers(repo, set.subject, "")
		if diff := cmp.Diff([]v1.Descriptor{sigDesc, bundleDesc}, idx.Manifests, byDigest); diff != "" {
			t.Errorf("referrers (-want +got):\n%s", diff)
		}
	})
}
