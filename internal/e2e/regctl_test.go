package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// regctlChunk is the chunk size the test gives regctl (--blob-chunk), and
// the size above which it pushes blobs in chunks (--blob-max).
const regctlChunk = 1 << 20

// TestRegctl copies an image with regclient's regctl, reads its manifest
// and tags, pushes a blob larger than the chunk size (so in chunks) and
// puts an artifact with a subject.
func TestRegctl(t *testing.T) {
	regctl := berthtest.Tool(t, "regctl")
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	reg, h := p.Registry(), host(p)
	ctx := context.Background()
	dir := t.TempDir()
	env := newToolEnv(t).in(dir)
	r := func(args ...string) string {
		t.Helper()
		return env.run(t, regctl, args...)
	}
	chunk := strconv.Itoa(regctlChunk)
	r("registry", "set", "--tls", "disabled", "--blob-chunk", chunk, "--blob-max", chunk, h)
	if _, err := os.Stat(filepath.Join(env.home, ".regctl", "config.json")); err != nil {
		t.Fatalf("regctl did not keep its configuration in the test's HOME: %v", err)
	}

	im := newImage(t, "regctl", linuxAmd64)
	pushImage(t, reg, "regctl/src", "v1", im)

	t.Run("image copy", func(t *testing.T) {
		r("image", "copy", h+"/regctl/src:v1", h+"/regctl/dst:v1")
		checkPulled(t, reg, "regctl/dst", im)
		checkBytes(t, "regctl manifest get", []byte(r("manifest", "get", "--format", "raw-body", h+"/regctl/dst:v1")), im.Manifest.Data)
		if diff := cmp.Diff([]string{"v1"}, strings.Fields(r("tag", "ls", h+"/regctl/dst"))); diff != "" {
			t.Errorf("regctl tag ls (-want +got):\n%s", diff)
		}
	})

	t.Run("chunked blob put", func(t *testing.T) {
		data := randomBytes(3*regctlChunk+regctlChunk/2, 11)
		before := scrape(t, p)
		out := env.runStdin(t, bytes.NewReader(data), regctl, "blob", "put", h+"/regctl/blobs")
		after := scrape(t, p)
		want := digest.FromBytes(data)
		if got := strings.TrimSpace(out); got != want.String() {
			t.Errorf("regctl blob put printed %q, want %s", got, want)
		}
		got, err := reg.GetBlob(ctx, "regctl/blobs", want)
		if err != nil {
			t.Fatal(err)
		}
		checkBytes(t, "blob", got, data)
		patch := requests("blob_upload", "PATCH", "202")
		if n := after.value("berth_http_requests_total", patch) - before.value("berth_http_requests_total", patch); n != 4 {
			t.Errorf("regctl sent %v PATCH requests (202) for %d bytes in %d-byte chunks, want 4", n, len(data), regctlChunk)
		}
	})

	t.Run("artifact put with subject", func(t *testing.T) {
		const artifactType = "application/vnd.berth.test.attestation"
		att := []byte(`{"predicateType":"https://example.com/test","subject":"` + im.Manifest.Desc.Digest.String() + `"}`)
		writeFile(t, dir, "attestation.json", att)
		r("artifact", "put", "--subject", h+"/regctl/dst:v1", "--artifact-type", artifactType,
			"-m", "application/vnd.berth.test.attestation.layer+json", "-f", "attestation.json")
		idx, err := reg.Referrers(ctx, "regctl/dst", im.Manifest.Desc.Digest, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != artifactType {
			t.Fatalf("referrers of the subject = %+v, want one %s", idx.Manifests, artifactType)
		}
		body, _, _, err := reg.GetManifest(ctx, "regctl/dst", idx.Manifests[0].Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if m.Subject == nil || m.Subject.Digest != im.Manifest.Desc.Digest || len(m.Layers) != 1 {
			t.Fatalf("artifact manifest: subject %+v, %d layers; want subject %s and one layer", m.Subject, len(m.Layers), im.Manifest.Desc.Digest)
		}
		got, err := reg.GetBlob(ctx, "regctl/dst", m.Layers[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkBytes(t, "artifact file", got, att)
	})
}
