package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPromotion promotes a signed image from one project to another with
// the berth CLI against a real server, then pulls it from the destination
// with crane: the image must be byte-identical, the signature listed by the
// destination's referrers API, and the manifest GETs crane made must show
// up as a last-pull time once the server has flushed them (at shutdown).
func TestPromotion(t *testing.T) {
	crane := berthtest.Tool(t, "crane")
	t.Parallel()
	dataDir := t.TempDir()
	p := start(t, berthtest.ProcessOptions{DataDir: dataDir})
	reg := p.Registry()
	ctx := context.Background()
	im := newImage(t, "promoted", linuxAmd64)
	pushImage(t, reg, "staging/app", "v1", im)
	sig := pushSignature(t, reg, "staging/app", im.Manifest.Desc)

	env := newToolEnv(t).with("BERTH_CONFIG_DIR=" + filepath.Join(t.TempDir(), "berth"))
	berth := berthBinary(t)
	env.runStdin(t, strings.NewReader(berthtest.AdminPassword+"\n"), berth, "login", p.URL, "-u", berthtest.AdminUser, "--password-stdin")
	out := env.run(t, berth, "promote", "staging/app:v1", "prod/app:release", "-o", "json")
	var rec struct {
		Digest    string `json:"digest"`
		Referrers int    `json:"referrers"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("berth promote -o json: %v\n%s", err, out)
	}
	if rec.Digest != im.Manifest.Desc.Digest.String() || rec.Referrers != 1 {
		t.Errorf("promotion record %+v, want digest %s with 1 referrer", rec, im.Manifest.Desc.Digest)
	}

	cr := client{env: newToolEnv(t), bin: crane, flags: []string{"--insecure"}}
	dir := filepath.Join(t.TempDir(), "pulled")
	cr.run(t, "pull", "--format", "oci", host(p)+"/prod/app:release", dir)
	checkImageLayout(t, dir, im)
	checkBytes(t, "crane manifest", []byte(cr.run(t, "manifest", host(p)+"/prod/app:release")), im.Manifest.Data)

	idx, err := reg.Referrers(ctx, "prod/app", im.Manifest.Desc.Digest, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sig {
		t.Fatalf("referrers at the destination = %+v, want the signature %s", idx.Manifests, sig)
	}
	if hist := env.run(t, berth, "promotions", "--project", "prod"); !strings.Contains(hist, "prod/app:release") {
		t.Errorf("berth promotions:\n%s", hist)
	}

	// Stopping the server flushes the pulls crane made (GETs of the
	// manifest at the destination, none at the source) to the database.
	if code := p.Stop(); code != 0 {
		t.Fatalf("berth serve exited %d at stop:\n%s", code, p.Stderr())
	}
	store, err := sqlite.Open(ctx, filepath.Join(dataDir, "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for repo, pulled := range map[string]bool{"prod/app": true, "staging/app": false} {
		r, err := store.GetRepository(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		m, err := store.GetManifest(ctx, r.ID, im.Manifest.Desc.Digest, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := !m.LastPulledAt.IsZero(); got != pulled {
			t.Errorf("%s: last pull %v, want recorded %v", repo, m.LastPulledAt, pulled)
		}
	}
}

// pushSignature pushes a cosign-style signature whose subject is subject
// to repo and returns its digest.
func pushSignature(t *testing.T, reg *berthtest.Registry, repo string, subject v1.Descriptor) digest.Digest {
	t.Helper()
	ctx := context.Background()
	empty, payload := []byte("{}"), []byte(`{"critical":{"image":{"docker-manifest-digest":"`+subject.Digest.String()+`"}}}`)
	var descs []v1.Descriptor
	for _, b := range [][]byte{empty, payload} {
		d, err := reg.PushBlob(ctx, repo, b)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, v1.Descriptor{Digest: d, Size: int64(len(b))})
	}
	descs[0].MediaType = "application/vnd.oci.empty.v1+json"
	descs[1].MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		ArtifactType: "application/vnd.dev.cosign.artifact.sig.v1+json",
		Config:       descs[0], Layers: descs[1:],
		Subject: &v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	body := mustJSON(t, m)
	d, err := reg.PutManifest(ctx, repo, digest.FromBytes(body).String(), v1.MediaTypeImageManifest, body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
