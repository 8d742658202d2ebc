package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzParse checks Parse's invariants on arbitrary Content-Types and bodies:
// it never panics or modifies the body; errors are Invalid or Unsupported;
// an accepted manifest has only valid descriptors, the right shape for its
// type, RequiredBlobs and Children drawn from its own descriptors, and the
// same descriptors a plain decode into the image-spec types yields.
func FuzzParse(f *testing.F) {
	for _, c := range conformanceBodies(f) {
		if len(c.body) > 16<<10 {
			continue // the large-manifest case: too slow to mutate and minimize
		}
		f.Add(c.contentType, c.body)
		f.Add("", c.body)
	}
	f.Add(MediaTypeDockerManifest, dockerManifest(f))
	f.Add(MediaTypeDockerManifestList, dockerList(f))
	f.Add("application/json", []byte(schema1Body))
	f.Add(MediaTypeDockerSchema1Signed, []byte(schema1Body))
	f.Add(MediaTypeImageManifest, []byte(badLayer(mtLayerGzip, dgA, "1", `,"data":"YQ=="`)))
	f.Add("application/octet-stream", []byte(`{"schemaVersion":2,"manifests":[`+descRaw(MediaTypeImageManifest, dg512, "0", `,"data":""`)+`]}`))

	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		orig := bytes.Clone(body)
		m, err := Parse(ct, body)
		if !bytes.Equal(orig, body) {
			t.Fatal("Parse modified the body")
		}
		if err != nil {
			if m != nil {
				t.Errorf("Parse returned both %+v and %v", m, err)
			}
			if !errors.Is(err, errdefs.ErrInvalid) && !errors.Is(err, errdefs.ErrUnsupported) {
				t.Errorf("error %q is neither Invalid nor Unsupported", err)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("accepted a body that is not valid UTF-8 JSON: %q", body)
		}
		checkInvariants(t, m)
		checkAgainstSpecTypes(t, body, m)
		again, err := Parse(ct, body)
		if err != nil {
			t.Fatalf("second Parse failed: %v", err)
		}
		if diff := cmp.Diff(m, again); diff != "" {
			t.Errorf("Parse is not deterministic (-first +second):\n%s", diff)
		}
	})
}

// checkInvariants checks what every accepted manifest must satisfy.
func checkInvariants(t *testing.T, m *Manifest) {
	t.Helper()
	if !IsManifestMediaType(m.MediaType) {
		t.Errorf("MediaType %q is not a stored type", m.MediaType)
	}
	all := append(append([]v1.Descriptor(nil), m.Layers...), m.Manifests...)
	for _, d := range []*v1.Descriptor{m.Config, m.Subject} {
		if d != nil {
			all = append(all, *d)
		}
	}
	for _, d := range all {
		checkValidDescriptor(t, d)
	}
	if isDockerType(m.MediaType) && (m.Subject != nil || m.ArtifactType != "") {
		t.Errorf("Docker type carries subject %v / artifactType %q", m.Subject, m.ArtifactType)
	}
	if m.IsIndex() {
		if m.Config != nil || len(m.Layers) > 0 || len(m.RequiredBlobs()) > 0 {
			t.Errorf("index has Config %v, Layers %v", m.Config, m.Layers)
		}
		checkSubset(t, "Children", m.Children(), m.Manifests, func(v1.Descriptor) bool { return true })
		return
	}
	if m.Config == nil || len(m.Manifests) > 0 || len(m.Children()) > 0 {
		t.Fatalf("image manifest has Config %v, Manifests %v", m.Config, m.Manifests)
	}
	if !isDockerType(m.MediaType) && m.ArtifactType == "" {
		t.Errorf("OCI image manifest has no ArtifactType (config type %q)", m.Config.MediaType)
	}
	own := append([]v1.Descriptor{*m.Config}, m.Layers...)
	checkSubset(t, "RequiredBlobs", m.RequiredBlobs(), own, func(d v1.Descriptor) bool {
		return !IsNonDistributable(d.MediaType) || d.Digest == m.Config.Digest
	})
}

// checkValidDescriptor checks one returned descriptor independently of the
// code under test.
func checkValidDescriptor(t *testing.T, d v1.Descriptor) {
	t.Helper()
	dg, err := digest.Parse(string(d.Digest))
	if err != nil {
		t.Errorf("descriptor digest %q: %v", d.Digest, err)
		return
	}
	if alg := dg.Algorithm(); alg != digest.SHA256 && alg != digest.SHA512 {
		t.Errorf("descriptor digest %q uses %s", d.Digest, alg)
	}
	if d.Size < 0 {
		t.Errorf("descriptor %s has size %d", d.Digest, d.Size)
	}
	if !validMediaType(d.MediaType) {
		t.Errorf("descriptor %s has media type %q", d.Digest, d.MediaType)
	}
	if d.Data != nil && (int64(len(d.Data)) != d.Size || dg.Algorithm().FromBytes(d.Data) != dg) {
		t.Errorf("descriptor %s: data does not match size %d and digest", d.Digest, d.Size)
	}
}

// checkSubset checks that got holds each digest of from that must be
// included, exactly once, and nothing else.
func checkSubset(t *testing.T, name string, got, from []v1.Descriptor, include func(v1.Descriptor) bool) {
	t.Helper()
	want := map[digest.Digest]bool{}
	allowed := map[digest.Digest]bool{}
	for _, d := range from {
		allowed[d.Digest] = true
		if include(d) {
			want[d.Digest] = true
		}
	}
	seen := map[digest.Digest]bool{}
	for _, d := range got {
		switch {
		case !allowed[d.Digest]:
			t.Errorf("%s has %s, which the manifest does not name", name, d.Digest)
		case !want[d.Digest]:
			t.Errorf("%s has %s, which need not exist", name, d.Digest)
		case seen[d.Digest]:
			t.Errorf("%s lists %s twice", name, d.Digest)
		}
		seen[d.Digest] = true
	}
	for dg := range want {
		if !seen[dg] {
			t.Errorf("%s misses %s", name, dg)
		}
	}
}
