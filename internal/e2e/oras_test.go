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

const (
	orasBundleType = "application/vnd.berth.test.bundle"
	orasSBOMType   = "application/spdx+json"
	orasSigType    = "application/vnd.berth.test.signature"
)

// orasCase is the state the oras subtests share.
type orasCase struct {
	reg  *berthtest.Registry
	host string
	// dir holds the files pushed; oras runs in it.
	dir  string
	oras client
	// files are pushed as the bundle artifact.
	files map[string][]byte
}

// TestOras pushes files as an artifact with oras and pulls them back,
// attaches an SBOM and a signature-like artifact to an image through the
// referrers API, and discovers them with and without an artifact type.
func TestOras(t *testing.T) {
	bin := berthtest.Tool(t, "oras")
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	dir := t.TempDir()
	c := &orasCase{
		reg: p.Registry(), host: host(p), dir: dir,
		oras: client{env: newToolEnv(t).in(dir), bin: bin, flags: []string{"--plain-http"}},
		files: map[string][]byte{
			"readme.md": []byte("# bundle\nfiles pushed by the Berth end-to-end tests\n"),
			"data.bin":  randomBytes(300<<10, 7),
		},
	}
	for name, data := range c.files {
		writeFile(t, dir, name, data)
	}
	t.Run("push", c.push)
	t.Run("pull", c.pull)
	t.Run("attach and discover", c.attachDiscover)
}

func (c *orasCase) push(t *testing.T) {
	var pushed orasDescriptor
	decodeJSON(t, c.oras.run(t, "push", "--artifact-type", orasBundleType, "--format", "json", c.host+"/oras/bundle:v1",
		"readme.md:text/markdown", "data.bin:application/octet-stream"), &pushed)
	body, _, dgst, err := c.reg.GetManifest(context.Background(), "oras/bundle", "v1")
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
	if m.ArtifactType != orasBundleType {
		t.Errorf("artifactType = %q, want %q", m.ArtifactType, orasBundleType)
	}
	for _, l := range m.Layers {
		name := l.Annotations[v1.AnnotationTitle]
		got, err := c.reg.GetBlob(context.Background(), "oras/bundle", l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkBytes(t, "layer "+name, got, c.files[name])
	}
	if len(m.Layers) != len(c.files) {
		t.Errorf("manifest has %d layers, want %d", len(m.Layers), len(c.files))
	}
}

func (c *orasCase) pull(t *testing.T) {
	out := t.TempDir()
	c.oras.run(t, "pull", "-o", out, c.host+"/oras/bundle:v1")
	for name, data := range c.files {
		checkBytes(t, "pulled "+name, readFile(t, filepath.Join(out, name)), data)
	}
}

// attachDiscover attaches two artifacts to an image through the referrers
// API, discovers them, and pulls one back.
func (c *orasCase) attachDiscover(t *testing.T) {
	im := newImage(t, "oras-subject", linuxAmd64)
	pushImage(t, c.reg, "oras/app", "v1", im)
	subject := c.host + "/oras/app@" + im.Manifest.Desc.Digest.String()
	sbomData := []byte(`{"spdxVersion":"SPDX-2.3","name":"oras-subject","packages":[]}`)
	writeFile(t, c.dir, "sbom.spdx.json", sbomData)
	writeFile(t, c.dir, "signature.json", []byte(`{"signed":"`+im.Manifest.Desc.Digest.String()+`"}`))
	var sbom, sig orasDescriptor
	decodeJSON(t, c.oras.run(t, "attach", "--distribution-spec", "v1.1-referrers-api", "--artifact-type", orasSBOMType,
		"--format", "json", c.host+"/oras/app:v1", "sbom.spdx.json:application/spdx+json"), &sbom)
	decodeJSON(t, c.oras.run(t, "attach", "--distribution-spec", "v1.1-referrers-api", "--artifact-type", orasSigType,
		"--format", "json", subject, "signature.json"), &sig)

	for _, tc := range []struct {
		artifactType string
		want         []orasDescriptor
	}{
		{"", []orasDescriptor{sbom, sig}},
		{orasSBOMType, []orasDescriptor{sbom}},
		{orasSigType, []orasDescriptor{sig}},
		{"application/vnd.berth.test.none", nil},
	} {
		args := []string{"discover", "--distribution-spec", "v1.1-referrers-api", "--format", "json", subject}
		if tc.artifactType != "" {
			args = append(args, "--artifact-type", tc.artifactType)
		}
		var got orasDescriptor
		decodeJSON(t, c.oras.run(t, args...), &got)
		if diff := cmp.Diff(sortReferrers(tc.want), sortReferrers(got.Referrers), cmp.Comparer(sameReferrer)); diff != "" {
			t.Errorf("discover --artifact-type %q (-want +got):\n%s", tc.artifactType, diff)
		}
	}

	out := t.TempDir()
	c.oras.run(t, "pull", "-o", out, c.host+"/oras/app@"+sbom.Digest.String())
	checkBytes(t, "pulled SBOM", readFile(t, filepath.Join(out, "sbom.spdx.json")), sbomData)
	// The referrers API was used, so no fallback tag (sha256-<hex>) exists.
	tags, err := c.reg.Tags(context.Background(), "oras/app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"v1"}, tags); diff != "" {
		t.Errorf("tags of oras/app (-want +got):\n%s", diff)
	}
}

// sortReferrers returns ds ordered by artifact type, nil when empty.
func sortReferrers(ds []orasDescriptor) []orasDescriptor {
	if len(ds) == 0 {
		return nil
	}
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b orasDescriptor) int { return strings.Compare(a.ArtifactType, b.ArtifactType) })
	return ds
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
