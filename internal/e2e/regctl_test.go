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
	bin := berthtest.Tool(t, "regctl")
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	dir := t.TempDir()
	c := &regctlCase{
		p: p, reg: p.Registry(), host: host(p), dir: dir,
		regctl: client{env: newToolEnv(t).in(dir), bin: bin},
		im:     newImage(t, "regctl", linuxAmd64),
	}
	chunk := strconv.Itoa(regctlChunk)
	c.regctl.run(t, "registry", "set", "--tls", "disabled", "--blob-chunk", chunk, "--blob-max", chunk,
		"--cred-helper", "docker-credential-berthtest", c.host)
	if _, err := os.Stat(filepath.Join(c.regctl.env.home, ".regctl", "config.json")); err != nil {
		t.Fatalf("regctl did not keep its configuration in the test's HOME: %v", err)
	}
	pushImage(t, c.reg, "regctl/src", "v1", c.im)
	if !t.Run("image copy", c.imageCopy) {
		t.FailNow()
	}
	t.Run("chunked blob put", c.chunkedBlobPut)
	t.Run("artifact put with subject", c.artifactPut)
}

// regctlCase is the state the regctl subtests share.
type regctlCase struct {
	p      *berthtest.Process
	reg    *berthtest.Registry
	host   string
	dir    string
	regctl client
	// im is pushed to regctl/src:v1 and copied to regctl/dst:v1.
	im *image
}

func (c *regctlCase) imageCopy(t *testing.T) {
	c.regctl.run(t, "image", "copy", c.host+"/regctl/src:v1", c.host+"/regctl/dst:v1")
	checkPulled(t, c.reg, "regctl/dst", c.im)
	checkBytes(t, "regctl manifest get", []byte(c.regctl.run(t, "manifest", "get", "--format", "raw-body", c.host+"/regctl/dst:v1")), c.im.Manifest.Data)
	if diff := cmp.Diff([]string{"v1"}, strings.Fields(c.regctl.run(t, "tag", "ls", c.host+"/regctl/dst"))); diff != "" {
		t.Errorf("regctl tag ls (-want +got):\n%s", diff)
	}
}

func (c *regctlCase) chunkedBlobPut(t *testing.T) {
	data := randomBytes(3*regctlChunk+regctlChunk/2, 11)
	before := scrape(t, c.p)
	out := c.regctl.env.runStdin(t, bytes.NewReader(data), c.regctl.bin, "blob", "put", c.host+"/regctl/blobs")
	after := scrape(t, c.p)
	want := digest.FromBytes(data)
	if got := strings.TrimSpace(out); got != want.String() {
		t.Errorf("regctl blob put printed %q, want %s", got, want)
	}
	got, err := c.reg.GetBlob(context.Background(), "regctl/blobs", want)
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "blob", got, data)
	patch := requests("blob_upload", "PATCH", "202")
	if n := after.value("berth_http_requests_total", patch) - before.value("berth_http_requests_total", patch); n != 4 {
		t.Errorf("regctl sent %v PATCH requests (202) for %d bytes in %d-byte chunks, want 4", n, len(data), regctlChunk)
	}
}

func (c *regctlCase) artifactPut(t *testing.T) {
	ctx := context.Background()
	const artifactType = "application/vnd.berth.test.attestation"
	subject := c.im.Manifest.Desc.Digest
	att := []byte(`{"predicateType":"https://example.com/test","subject":"` + subject.String() + `"}`)
	writeFile(t, c.dir, "attestation.json", att)
	c.regctl.run(t, "artifact", "put", "--subject", c.host+"/regctl/dst:v1", "--artifact-type", artifactType,
		"-m", "application/vnd.berth.test.attestation.layer+json", "-f", "attestation.json")
	idx, err := c.reg.Referrers(ctx, "regctl/dst", subject, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != artifactType {
		t.Fatalf("referrers of the subject = %+v, want one %s", idx.Manifests, artifactType)
	}
	body, _, _, err := c.reg.GetManifest(ctx, "regctl/dst", idx.Manifests[0].Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Subject == nil || m.Subject.Digest != subject || len(m.Layers) != 1 {
		t.Fatalf("artifact manifest: subject %+v, %d layers; want subject %s and one layer", m.Subject, len(m.Layers), subject)
	}
	got, err := c.reg.GetBlob(ctx, "regctl/dst", m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "artifact file", got, att)
}
