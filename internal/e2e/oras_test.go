package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// orasDescriptor is the part of oras' JSON output (push, attach, discover)
// the tests read.
type orasDescriptor struct {
	Digest       digest.Digest    `json:"digest"`
	ArtifactType string           `json:"artifactType"`
	Referrers    []orasDescriptor `json:"referrers"`
}

// TestOras pushes files as an artifact with oras and pulls them back,
// attaches an SBOM and a signature-like artifact to an image through the
// referrers API, and discovers them with and without an artifact type.
func TestOras(t *testing.T) {
	oras := berthtest.Tool(t, "oras")
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	reg, h := p.Registry(), host(p)
	dir := t.TempDir()
	env := newToolEnv(t).in(dir)
	o := func(args ...string) string {
		t.Helper()
		return env.run(t, oras, append(args, "--plain-http")...)
	}

	files := map[string][]byte{
		"readme.md": []byte("# bundle\nfiles pushed by the Berth end-to-end tests\n"),
		"data.bin":  randomBytes(300<<10, 7),
	}
	for name, data := range files {
		writeFile(t, dir, name, data)
	}
	const bundleType = "application/vnd.berth.test.bundle"
	var pushed orasDescriptor
	decodeJSON(t, o("push", "--artifact-type", bundleType, "--format", "json", h+"/oras/bundle:v1",
		"readme.md:text/markdown", "data.bin:application/octet-stream"), &pushed)

	t.Run("push", func(t *testing.T) {
		body, _, dgst, err := reg.GetManifest(context.Background(), "oras/bundle", "v1")
		if err != nil {
			t.Fatal(err)
		}
		if dgst != pushed.Digest {
			t.Errorf("tag v1 is %s, oras pushed %s", dgst, pushed.Digest)
		}
		var m v1.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if m.ArtifactType != bundleType {
			t.Errorf("artifactType = %q, want %q", m.ArtifactType, bundleType)
		}
		for _, l := range m.Layers {
			name := l.Annotations[v1.AnnotationTitle]
			got, err := reg.GetBlob(context.Background(), "oras/bundle", l.Digest)
			if err != nil {
				t.Fatal(err)
			}
			checkBytes(t, "layer "+name, got, files[name])
		}
		if len(m.Layers) != len(files) {
			t.Errorf("manifest has %d layers, want %d", len(m.Layers), len(files))
		}
	})

	t.Run("pull", func(t *testing.T) {
		out := t.TempDir()
		o("pull", "-o", out, h+"/oras/bundle:v1")
		for name, data := range files {
			checkBytes(t, "pulled "+name, readFile(t, filepath.Join(out, name)), data)
		}
	})

	im := newImage(t, "oras-subject", linuxAmd64)
	pushImage(t, reg, "oras/app", "v1", im)
	subject := h + "/oras/app@" + im.Manifest.Desc.Digest.String()
	writeFile(t, dir, "sbom.spdx.json", []byte(`{"spdxVersion":"SPDX-2.3","name":"oras-subject","packages":[]}`))
	writeFile(t, dir, "signature.json", []byte(`{"signed":"`+im.Manifest.Desc.Digest.String()+`"}`))
	const sbomType, sigType = "application/spdx+json", "application/vnd.berth.test.signature"
	var sbom, sig orasDescriptor
	decodeJSON(t, o("attach", "--distribution-spec", "v1.1-referrers-api", "--artifact-type", sbomType,
		"--format", "json", h+"/oras/app:v1", "sbom.spdx.json:application/spdx+json"), &sbom)
	decodeJSON(t, o("attach", "--distribution-spec", "v1.1-referrers-api", "--artifact-type", sigType,
		"--format", "json", subject, "signature.json"), &sig)

	t.Run("discover", func(t *testing.T) {
		for _, tc := range []struct {
			artifactType string
			want         []orasDescriptor
		}{
			{"", []orasDescriptor{sbom, sig}},
			{sbomType, []orasDescriptor{sbom}},
			{sigType, []orasDescriptor{sig}},
			{"application/vnd.berth.test.none", nil},
		} {
			args := []string{"discover", "--distribution-spec", "v1.1-referrers-api", "--format", "json", subject}
			if tc.artifactType != "" {
				args = append(args, "--artifact-type", tc.artifactType)
			}
			var got orasDescriptor
			decodeJSON(t, o(args...), &got)
			if len(got.Referrers) == 0 {
				got.Referrers = nil
			}
			slices.SortFunc(got.Referrers, func(a, b orasDescriptor) int { return strings.Compare(a.ArtifactType, b.ArtifactType) })
			want := slices.Clone(tc.want)
			slices.SortFunc(want, func(a, b orasDescriptor) int { return strings.Compare(a.ArtifactType, b.ArtifactType) })
			if diff := cmp.Diff(want, got.Referrers, cmp.Comparer(sameReferrer)); diff != "" {
				t.Errorf("discover --artifact-type %q (-want +got):\n%s", tc.artifactType, diff)
			}
		}
	})

	t.Run("pull referrer", func(t *testing.T) {
		out := t.TempDir()
		o("pull", "-o", out, h+"/oras/app@"+sbom.Digest.String())
		checkBytes(t, "pulled SBOM", readFile(t, filepath.Join(out, "sbom.spdx.json")), readFile(t, filepath.Join(dir, "sbom.spdx.json")))
		// The referrers API was used, so no fallback tag (sha256-<hex>)
		// was created.
		tags, err := reg.Tags(context.Background(), "oras/app")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"v1"}, tags); diff != "" {
			t.Errorf("tags of oras/app (-want +got):\n%s", diff)
		}
	})
}

// sameReferrer compares referrers by digest and artifact type.
func sameReferrer(a, b orasDescriptor) bool {
	return a.Digest == b.Digest && a.ArtifactType == b.ArtifactType
}

// decodeJSON parses a tool's JSON output into v.
func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("parse tool output as JSON: %v\n%s", err, out)
	}
}

// randomBytes returns n pseudo-random bytes from seed.
func randomBytes(n int, seed uint64) []byte {
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	b := make([]byte, n)
	_, _ = rng.Read(b)
	return b
}
