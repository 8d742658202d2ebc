package berthtest_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/opencontainers/go-digest"
)

// TestHeadDeleteManifest drives HeadManifest and DeleteManifest against an
// in-process server: HEAD by tag and by digest, a tag delete that keeps
// the manifest, a digest delete that removes it, and 404s after.
func TestHeadDeleteManifest(t *testing.T) {
	ctx := context.Background()
	reg := berthtest.Start(t).Registry()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	configDigest, err := reg.PushBlob(ctx, "lib/head", config)
	if err != nil {
		t.Fatal(err)
	}
	const mt = "application/vnd.oci.image.manifest.v1+json"
	manifest := []byte(`{"schemaVersion":2,"mediaType":"` + mt + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json",` +
		`"digest":"` + configDigest.String() + `","size":` + strconv.Itoa(len(config)) + `},"layers":[]}`)
	for _, tag := range []string{"v1", "v2"} {
		if _, err := reg.PutManifest(ctx, "lib/head", tag, mt, manifest); err != nil {
			t.Fatal(err)
		}
	}
	want := digest.FromBytes(manifest)
	for _, ref := range []string{"v1", want.String()} {
		if got, err := reg.HeadManifest(ctx, "lib/head", ref); err != nil || got != want {
			t.Errorf("HeadManifest(%s) = %s, %v; want %s", ref, got, err, want)
		}
	}
	if err := reg.DeleteManifest(ctx, "lib/head", "v1"); err != nil {
		t.Fatalf("DeleteManifest(v1): %v", err)
	}
	if _, err := reg.HeadManifest(ctx, "lib/head", "v1"); !berthtest.IsStatus(err, http.StatusNotFound) {
		t.Errorf("HeadManifest of a deleted tag: %v, want status 404", err)
	}
	if got, err := reg.HeadManifest(ctx, "lib/head", "v2"); err != nil || got != want {
		t.Errorf("HeadManifest(v2) after deleting tag v1 = %s, %v; want %s", got, err, want)
	}
	if err := reg.DeleteManifest(ctx, "lib/head", want.String()); err != nil {
		t.Fatalf("DeleteManifest(digest): %v", err)
	}
	for _, ref := range []string{"v2", want.String()} {
		if _, err := reg.HeadManifest(ctx, "lib/head", ref); !berthtest.IsStatus(err, http.StatusNotFound) {
			t.Errorf("HeadManifest(%s) after deleting the manifest: %v, want status 404", ref, err)
		}
	}
	if err := reg.DeleteManifest(ctx, "lib/head", want.String()); !berthtest.IsStatus(err, http.StatusNotFound) {
		t.Errorf("DeleteManifest of a deleted manifest: %v, want status 404", err)
	}
}

// TestStartProcesses starts two servers at once on data directories of
// their own and checks both serve, on different addresses, and keep
// their data apart.
func TestStartProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs berth serve")
	}
	ctx := context.Background()
	procs := berthtest.StartProcesses(t, berthtest.Build(t), make([]berthtest.ProcessOptions, 2))
	if len(procs) != 2 || procs[0].Addr == procs[1].Addr || procs[0].DataDir == procs[1].DataDir {
		t.Fatalf("got %d processes; want two on different addresses and data directories", len(procs))
	}
	for _, p := range procs {
		if !strings.HasPrefix(p.URL, "http://127.0.0.1:") {
			t.Errorf("URL = %q, want http://127.0.0.1:PORT", p.URL)
		}
	}
	data := []byte("only in the first")
	dgst, err := procs[0].Registry().PushBlob(ctx, "apart/blob", data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := procs[1].Registry().GetBlob(ctx, "apart/blob", dgst); !berthtest.IsStatus(err, http.StatusNotFound) {
		t.Errorf("second server serves the first one's blob: %v, want status 404", err)
	}
	procs[1].Kill()
	if _, err := procs[0].Registry().GetBlob(ctx, "apart/blob", dgst); err != nil {
		t.Errorf("first server after the second was killed: %v", err)
	}
}
