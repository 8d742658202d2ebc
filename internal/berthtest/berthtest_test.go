package berthtest_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

func TestMain(m *testing.M) { berthtest.Main(m) }

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0-0", want: 0},
		{in: "0-1", want: 2},
		{in: "0-1048575", want: 1 << 20},
		{in: "", wantErr: true},
		{in: "1-5", wantErr: true},
		{in: "0--1", wantErr: true},
		{in: "0-x", wantErr: true},
		{in: "bytes=0-5", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := berthtest.ParseRange(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseRange(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseRange(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestRegistryClient drives every helper of Registry against an in-process
// server.
func TestRegistryClient(t *testing.T) {
	ctx := context.Background()
	reg := berthtest.Start(t).Registry()
	layer := bytes.Repeat([]byte("layer "), 5000)
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)

	layerDigest, err := reg.PushBlobChunked(ctx, "lib/app", layer, 7000)
	if err != nil {
		t.Fatalf("PushBlobChunked: %v", err)
	}
	configDigest, err := reg.PushBlob(ctx, "lib/app", config)
	if err != nil {
		t.Fatalf("PushBlob: %v", err)
	}
	for dgst, want := range map[digest.Digest][]byte{layerDigest: layer, configDigest: config} {
		got, err := reg.GetBlob(ctx, "lib/app", dgst)
		if err != nil {
			t.Fatalf("GetBlob(%s): %v", dgst, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("GetBlob(%s) returned other bytes", dgst)
		}
	}

	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + configDigest.String() + `","size":` + strconv.Itoa(len(config)) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layerDigest.String() + `","size":` + strconv.Itoa(len(layer)) + `}]}`)
	const mt = "application/vnd.oci.image.manifest.v1+json"
	mdgst, err := reg.PutManifest(ctx, "lib/app", "v1", mt, manifest)
	if err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	body, gotType, gotDigest, err := reg.GetManifest(ctx, "lib/app", "v1")
	if err != nil {
		t.Fatalf("GetManifest: %v", err)
	}
	if !bytes.Equal(body, manifest) || gotType != mt || gotDigest != mdgst {
		t.Errorf("GetManifest = %d bytes, %q, %s; want the %d bytes pushed, %q, %s", len(body), gotType, gotDigest, len(manifest), mt, mdgst)
	}

	tags, err := reg.Tags(ctx, "lib/app")
	if err != nil {
		t.Fatalf("Tags: %v", err)
	}
	if diff := cmp.Diff([]string{"v1"}, tags); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}
	repos, err := reg.Catalog(ctx)
	if err != nil {
		t.Fatalf("Catalog: %v", err)
	}
	if diff := cmp.Diff([]string{"lib/app"}, repos); diff != "" {
		t.Errorf("Catalog (-want +got):\n%s", diff)
	}

	if _, _, _, err := reg.GetManifest(ctx, "lib/app", "missing"); !berthtest.IsStatus(err, http.StatusNotFound) {
		t.Errorf("GetManifest of a missing tag: %v, want status 404", err)
	}
}

// TestRegistryUploads drives an upload session: status, a stream, a chunk
// at the wrong offset (416), a chunk at the right one, completion.
func TestRegistryUploads(t *testing.T) {
	ctx := context.Background()
	reg := berthtest.Start(t).Registry()
	loc, err := reg.StartUpload(ctx, "lib/app")
	if err != nil {
		t.Fatalf("StartUpload: %v", err)
	}
	if off, err := reg.UploadStatus(ctx, loc); err != nil || off != 0 {
		t.Fatalf("UploadStatus of a new upload = %d, %v; want 0", off, err)
	}
	data := []byte(strings.Repeat("0123456789", 100))
	loc, off, err := reg.PatchStream(ctx, loc, bytes.NewReader(data[:300]))
	if err != nil || off != 300 {
		t.Fatalf("PatchStream = %d, %v; want offset 300", off, err)
	}
	if _, _, err := reg.PatchChunk(ctx, loc, 200, bytes.NewReader(data[200:]), 800); !berthtest.IsStatus(err, http.StatusRequestedRangeNotSatisfiable) {
		t.Fatalf("PatchChunk at a wrong offset: %v, want status 416", err)
	}
	if off, err := reg.UploadStatus(ctx, loc); err != nil || off != 300 {
		t.Fatalf("UploadStatus = %d, %v; want 300", off, err)
	}
	if loc, _, err = reg.PatchChunk(ctx, loc, 300, bytes.NewReader(data[300:]), 700); err != nil {
		t.Fatalf("PatchChunk: %v", err)
	}
	if err := reg.CompleteUpload(ctx, loc, digest.FromBytes(data)); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	if _, err := reg.UploadStatus(ctx, loc); !berthtest.IsStatus(err, http.StatusNotFound) {
		t.Errorf("UploadStatus after completion: %v, want status 404", err)
	}
}

// TestProcess runs the real binary: over HTTPS, restarted on its data after
// a graceful stop and after SIGKILL.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs berth serve")
	}
	ctx := context.Background()
	bin := berthtest.Build(t)
	cert := berthtest.NewTLSCert(t)
	p := berthtest.StartProcess(t, bin, berthtest.ProcessOptions{TLS: cert})
	if !strings.HasPrefix(p.URL, "https://127.0.0.1:") {
		t.Fatalf("URL = %q, want https://127.0.0.1:PORT", p.URL)
	}
	data := []byte("kept across restarts")
	dgst, err := p.Registry().PushBlob(ctx, "keep/me", data)
	if err != nil {
		t.Fatalf("PushBlob: %v", err)
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("Stop exit code = %d, want 0", code)
	}
	if !strings.Contains(p.Stderr(), "shutting down") {
		t.Errorf("stderr does not log the shutdown:\n%s", p.Stderr())
	}

	for _, how := range []string{"after stop", "after kill"} {
		p = berthtest.StartProcess(t, bin, berthtest.ProcessOptions{DataDir: p.DataDir})
		got, err := p.Registry().GetBlob(ctx, "keep/me", dgst)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: GetBlob = %q, %v; want %q", how, got, err, data)
		}
		p.Kill()
		if code, ok := p.Wait(0); !ok || code != -1 {
			t.Errorf("%s: exit after Kill = %d (exited %v), want -1 (signal)", how, code, ok)
		}
	}
}

func TestTool(t *testing.T) {
	got := berthtest.Tool(t, "go")
	if !strings.HasSuffix(got, "/go") {
		t.Errorf("Tool(go) = %q", got)
	}
}
