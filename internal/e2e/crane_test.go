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

// TestCrane round-trips images through go-containerregistry's crane: push
// an OCI layout, append a layer onto nothing, pull, read blobs, build a
// multi-platform index, copy (which mounts), list, digest and delete.
func TestCrane(t *testing.T) {
	crane := berthtest.Tool(t, "crane")
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	reg, h := p.Registry(), host(p)
	env := newToolEnv(t)
	c := func(args ...string) string {
		t.Helper()
		return env.run(t, crane, append(args, "--insecure")...)
	}

	amd, arm := newImage(t, "crane-amd64", linuxAmd64), newImage(t, "crane-arm64", linuxArm64)
	for tag, im := range map[string]*image{"amd64": amd, "arm64": arm} {
		dir := t.TempDir()
		writeLayout(t, dir, tag, im)
		c("push", dir, h+"/crane/app:"+tag)
		if got := strings.TrimSpace(c("digest", h+"/crane/app:"+tag)); got != im.Manifest.Desc.Digest.String() {
			t.Errorf("crane digest app:%s = %s, want %s", tag, got, im.Manifest.Desc.Digest)
		}
		checkPulled(t, reg, "crane/app", im)
	}

	t.Run("pull", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "pulled")
		c("pull", "--format", "oci", h+"/crane/app:amd64", dir)
		checkImageLayout(t, dir, amd)
		for _, b := range amd.blobs() {
			checkBytes(t, "crane blob "+b.Desc.Digest.String(), []byte(c("blob", h+"/crane/app@"+b.Desc.Digest.String())), b.Data)
		}
		checkBytes(t, "crane manifest", []byte(c("manifest", h+"/crane/app:amd64")), amd.Manifest.Data)
	})

	t.Run("append", func(t *testing.T) {
		layer := amd.Layers[1]
		file := writeFile(t, t.TempDir(), "layer.tar.gz", layer.Data)
		c("append", "--oci-empty-base", "-f", file, "-t", h+"/crane/appended:v1")
		var m v1.Manifest
		if err := json.Unmarshal([]byte(c("manifest", h+"/crane/appended:v1")), &m); err != nil {
			t.Fatalf("parse appended manifest: %v", err)
		}
		if len(m.Layers) != 1 || m.Layers[0].Digest != layer.Desc.Digest {
			t.Fatalf("appended image layers = %+v, want the one layer %s", m.Layers, layer.Desc.Digest)
		}
		checkBytes(t, "appended layer", []byte(c("blob", h+"/crane/appended@"+layer.Desc.Digest.String())), layer.Data)
	})

	idxDigest := t.Run("index", func(t *testing.T) {
		c("index", "append", "-m", h+"/crane/app:amd64", "-m", h+"/crane/app:arm64", "-t", h+"/crane/app:multi")
		raw := c("manifest", h+"/crane/app:multi")
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
		want := []child{{amd.Manifest.Desc.Digest, "linux/amd64/"}, {arm.Manifest.Desc.Digest, "linux/arm64/v8"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("index children (-want +got):\n%s", diff)
		}
		body, _, _, err := reg.GetManifest(context.Background(), "crane/app", "multi")
		if err != nil {
			t.Fatal(err)
		}
		checkBytes(t, "index", body, []byte(raw))
	})
	if !idxDigest {
		t.FailNow()
	}

	t.Run("copy mounts", func(t *testing.T) {
		before := scrape(t, p)
		c("copy", h+"/crane/app:multi", h+"/crane/copy:multi")
		after := scrape(t, p)
		if src, dst := c("digest", h+"/crane/app:multi"), c("digest", h+"/crane/copy:multi"); src != dst {
			t.Errorf("copy has digest %s, source %s", dst, src)
		}
		checkPulled(t, reg, "crane/copy", amd)
		checkPulled(t, reg, "crane/copy", arm)
		// Six blobs (two configs, four layers), each mounted: POST with
		// mount= answers 201, and no upload is completed with PUT.
		put := requests("blob_upload", "PUT", "")
		if d := after.value("berth_http_requests_total", put) - before.value("berth_http_requests_total", put); d != 0 {
			t.Errorf("crane copy completed %v uploads, want 0 (every blob mounted)", d)
		}
		mounted := requests("blob_upload_start", "POST", "201")
		if d := after.value("berth_http_requests_total", mounted) - before.value("berth_http_requests_total", mounted); d != 6 {
			t.Errorf("crane copy made %v mounts (POST 201), want 6", d)
		}
	})

	t.Run("ls", func(t *testing.T) {
		got := strings.Fields(c("ls", h+"/crane/app"))
		slices.Sort(got)
		if diff := cmp.Diff([]string{"amd64", "arm64", "multi"}, got); diff != "" {
			t.Errorf("crane ls (-want +got):\n%s", diff)
		}
	})

	t.Run("delete", func(t *testing.T) {
		ref := h + "/crane/appended:v1"
		dgst := strings.TrimSpace(c("digest", ref))
		c("delete", h+"/crane/appended@"+dgst)
		if out, errOut, err := env.exec(crane, nil, "digest", ref, "--insecure"); err == nil {
			t.Errorf("crane digest after delete = %q, want an error", out)
		} else if !strings.Contains(errOut, "MANIFEST_UNKNOWN") {
			t.Errorf("crane digest after delete: %s, want MANIFEST_UNKNOWN", errOut)
		}
		if _, _, _, err := reg.GetManifest(context.Background(), "crane/appended", dgst); !berthtest.IsStatus(err, 404) {
			t.Errorf("GET deleted manifest by digest: %v, want 404", err)
		}
	})
}
