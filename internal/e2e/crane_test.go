package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// craneCase is the state the crane subtests share.
type craneCase struct {
	p        *berthtest.Process
	reg      *berthtest.Registry
	host     string
	crane    client
	amd, arm *image
}

// TestCrane round-trips images through go-containerregistry's crane: push
// an OCI layout, append a layer onto nothing, pull, read blobs, build a
// multi-platform index, copy (which mounts), list, digest and delete.
func TestCrane(t *testing.T) {
	bin := berthtest.Tool(t, "crane")
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	c := &craneCase{
		p: p, reg: p.Registry(), host: host(p),
		crane: client{env: newToolEnv(t), bin: bin, flags: []string{"--insecure"}},
		amd:   newImage(t, "crane-amd64", linuxAmd64),
		arm:   newImage(t, "crane-arm64", linuxArm64),
	}
	for tag, im := range map[string]*image{"amd64": c.amd, "arm64": c.arm} {
		dir := t.TempDir()
		writeLayout(t, dir, tag, im)
		c.crane.run(t, "push", dir, c.host+"/crane/app:"+tag)
		if got := strings.TrimSpace(c.crane.run(t, "digest", c.host+"/crane/app:"+tag)); got != im.Manifest.Desc.Digest.String() {
			t.Errorf("crane digest app:%s = %s, want %s", tag, got, im.Manifest.Desc.Digest)
		}
		checkPulled(t, c.reg, "crane/app", im)
	}
	t.Run("pull", c.pull)
	t.Run("append", c.append)
	if !t.Run("index", c.index) {
		t.FailNow()
	}
	t.Run("copy mounts", c.copyMounts)
	t.Run("ls", c.ls)
	t.Run("delete", c.delete)
}

func (c *craneCase) pull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pulled")
	c.crane.run(t, "pull", "--format", "oci", c.host+"/crane/app:amd64", dir)
	checkImageLayout(t, dir, c.amd)
	for _, b := range c.amd.blobs() {
		checkBytes(t, "crane blob "+b.Desc.Digest.String(), []byte(c.crane.run(t, "blob", c.host+"/crane/app@"+b.Desc.Digest.String())), b.Data)
	}
	checkBytes(t, "crane manifest", []byte(c.crane.run(t, "manifest", c.host+"/crane/app:amd64")), c.amd.Manifest.Data)
}

func (c *craneCase) append(t *testing.T) {
	layer := c.amd.Layers[1]
	file := writeFile(t, t.TempDir(), "layer.tar.gz", layer.Data)
	c.crane.run(t, "append", "--oci-empty-base", "-f", file, "-t", c.host+"/crane/appended:v1")
	var m v1.Manifest
	if err := json.Unmarshal([]byte(c.crane.run(t, "manifest", c.host+"/crane/appended:v1")), &m); err != nil {
		t.Fatalf("parse appended manifest: %v", err)
	}
	if len(m.Layers) != 1 || m.Layers[0].Digest != layer.Desc.Digest {
		t.Fatalf("appended image layers = %+v, want the one layer %s", m.Layers, layer.Desc.Digest)
	}
	checkBytes(t, "appended layer", []byte(c.crane.run(t, "blob", c.host+"/crane/appended@"+layer.Desc.Digest.String())), layer.Data)
}

func (c *craneCase) index(t *testing.T) {
	c.crane.run(t, "index", "append", "-m", c.host+"/crane/app:amd64", "-m", c.host+"/crane/app:arm64", "-t", c.host+"/crane/app:multi")
	raw := c.crane.run(t, "manifest", c.host+"/crane/app:multi")
	var idx v1.Index
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatalf("parse index: %v", err)
	}
	type child struct {
		Digest   digest.Digest
		Platform string
	}
	var got []child
	for _, d := range idx.Manifests {
		pl := ""
		if d.Platform != nil {
			pl = d.Platform.OS + "/" + d.Platform.Architecture + "/" + d.Platform.Variant
		}
		got = append(got, child{d.Digest, pl})
	}
	want := []child{{c.amd.Manifest.Desc.Digest, "linux/amd64/"}, {c.arm.Manifest.Desc.Digest, "linux/arm64/v8"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index children (-want +got):\n%s", diff)
	}
	body, _, _, err := c.reg.GetManifest(context.Background(), "crane/app", "multi")
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "index", body, []byte(raw))
}

func (c *craneCase) copyMounts(t *testing.T) {
	before := scrape(t, c.p)
	c.crane.run(t, "copy", c.host+"/crane/app:multi", c.host+"/crane/copy:multi")
	after := scrape(t, c.p)
	if src, dst := c.crane.run(t, "digest", c.host+"/crane/app:multi"), c.crane.run(t, "digest", c.host+"/crane/copy:multi"); src != dst {
		t.Errorf("copy has digest %s, source %s", dst, src)
	}
	checkPulled(t, c.reg, "crane/copy", c.amd)
	checkPulled(t, c.reg, "crane/copy", c.arm)
	// Six blobs (two configs, four layers), each mounted: POST with mount=
	// answers 201, and no upload is completed with PUT.
	put := requests("blob_upload", "PUT", "")
	if d := after.value("berth_http_requests_total", put) - before.value("berth_http_requests_total", put); d != 0 {
		t.Errorf("crane copy completed %v uploads, want 0 (every blob mounted)", d)
	}
	mounted := requests("blob_upload_start", "POST", "201")
	if d := after.value("berth_http_requests_total", mounted) - before.value("berth_http_requests_total", mounted); d != 6 {
		t.Errorf("crane copy made %v mounts (POST 201), want 6", d)
	}
}

func (c *craneCase) ls(t *testing.T) {
	got := strings.Fields(c.crane.run(t, "ls", c.host+"/crane/app"))
	slices.Sort(got)
	if diff := cmp.Diff([]string{"amd64", "arm64", "multi"}, got); diff != "" {
		t.Errorf("crane ls (-want +got):\n%s", diff)
	}
}

func (c *craneCase) delete(t *testing.T) {
	ref := c.host + "/crane/appended:v1"
	dgst := strings.TrimSpace(c.crane.run(t, "digest", ref))
	c.crane.run(t, "delete", c.host+"/crane/appended@"+dgst)
	if out, errOut, err := c.crane.env.exec(c.crane.bin, nil, "digest", ref, "--insecure"); err == nil {
		t.Errorf("crane digest after delete = %q, want an error", out)
	} else if !strings.Contains(errOut, "MANIFEST_UNKNOWN") {
		t.Errorf("crane digest after delete: %s, want MANIFEST_UNKNOWN", errOut)
	}
	if _, _, _, err := c.reg.GetManifest(context.Background(), "crane/appended", dgst); !berthtest.IsStatus(err, 404) {
		t.Errorf("GET deleted manifest by digest: %v, want 404", err)
	}
}
