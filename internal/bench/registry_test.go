package bench

// Tests of the request flows against the real CNCF Distribution binary, the
// registry the benchmark compares with. They are skipped when the binary is
// not installed (scripts/bench.sh installs it into .tools/bin).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
)

// distributionBinary finds Distribution's registry binary, or "".
func distributionBinary(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("BERTHBENCH_REGISTRY_BIN")}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(dir, ".tools", "bin", "registry"))
				break
			}
		}
	}
	candidates = append(candidates, "/tmp/tools/bin/registry")
	for _, c := range candidates {
		if c == "" {
			continue
		}
		out, err := exec.Command(c, "--version").Output()
		if err == nil && strings.Contains(string(out), "distribution") {
			return c
		}
	}
	return ""
}

// startDistribution runs Distribution on a free loopback port with a fresh
// filesystem store and returns its URL and process id.
func startDistribution(t *testing.T) (string, int) {
	t.Helper()
	bin := distributionBinary(t)
	if bin == "" {
		t.Skip("CNCF Distribution not installed (set BERTHBENCH_REGISTRY_BIN or run scripts/bench.sh once)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"+
		"storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://" + addr
	for range 200 {
		resp, err := http.Get(url + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, cmd.Process.Pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("Distribution did not become ready at %s", url)
	return "", 0
}

func newTestClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := NewClient(url, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestBlobFlowsAgainstDistribution(t *testing.T) {
	url, _ := startDistribution(t)
	c := newTestClient(t, url)
	ctx := context.Background()
	buf := make([]byte, copyBufSize)
	for _, tc := range []struct {
		name, repo string
		size       int64
		chunked    int64 // chunk size; 0 for a monolithic upload
	}{
		{"monolithic small", "flows/mono-small", 1000, 0},
		{"monolithic large enough to pipeline the pull", "flows/mono-large", pipelineMin + 12345, 0},
		{"chunked, last chunk short", "flows/chunked-short", 2<<20 + 17, 1 << 20},
		{"chunked, one chunk", "flows/chunked-one", 4096, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := tc.repo
			b := Blob{Seed: Seed(tc.name, 0), Size: tc.size}
			dg := DigestOf(b)
			if ok, err := c.BlobExists(ctx, repo, dg); err != nil || ok {
				t.Fatalf("before push: exists=%v err=%v", ok, err)
			}
			var err error
			if tc.chunked > 0 {
				err = c.PushChunked(ctx, repo, b.Reader(), b.Size, tc.chunked, dg)
			} else {
				err = c.PushMonolithic(ctx, repo, b.Reader(), b.Size, dg)
			}
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			if ok, err := c.BlobExists(ctx, repo, dg); err != nil || !ok {
				t.Fatalf("after push: exists=%v err=%v", ok, err)
			}
			n, err := c.PullBlob(ctx, repo, dg, buf)
			if err != nil || n != tc.size {
				t.Fatalf("pull: %d bytes, %v; want %d", n, err, tc.size)
			}
		})
	}
}

func TestBlobErrorsAgainstDistribution(t *testing.T) {
	url, _ := startDistribution(t)
	c := newTestClient(t, url)
	ctx := context.Background()
	b := Blob{Seed: 1, Size: 512}
	wrong := DigestOf(Blob{Seed: 2, Size: 512})

	err := c.PushMonolithic(ctx, "errs/a", b.Reader(), b.Size, wrong)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Code != "DIGEST_INVALID" || !errdefs.IsInvalid(err) {
		t.Errorf("push under a wrong digest: err = %v, want HTTP 400 DIGEST_INVALID of class invalid", err)
	}
	_, err = c.PullBlob(ctx, "errs/a", wrong, make([]byte, 1024))
	if !errdefs.IsNotFound(err) {
		t.Errorf("pull of a missing blob: err = %v, want class not found", err)
	}
	if err := c.PushChunked(ctx, "errs/a", b.Reader(), b.Size, 0, DigestOf(b)); !errdefs.IsInvalid(err) {
		t.Errorf("chunk size 0: err = %v, want class invalid", err)
	}
}

func TestManifestAndListingFlowsAgainstDistribution(t *testing.T) {
	url, _ := startDistribution(t)
	c := newTestClient(t, url)
	ctx := context.Background()
	e := &Env{Client: c, Config: DefaultConfig(), Digests: NewDigester(), Log: slog.New(slog.DiscardHandler)}
	e.Config.SetupConcurrency = 4
	img := newTinyImage(e)
	const repo = "list/tags"
	tags, err := ensureTags(ctx, e, repo, 23)
	if err != nil {
		t.Fatal(err)
	}
	// Idempotent: a second call pushes nothing and still succeeds.
	if _, err := ensureTags(ctx, e, repo, 23); err != nil {
		t.Fatalf("second ensureTags: %v", err)
	}

	want := img.manifest(repo + ":" + tags[3])
	dg, err := c.HeadManifest(ctx, repo, tags[3])
	if err != nil || dg != DigestOfBytes(want) {
		t.Errorf("HEAD %s = %s, %v; want %s", tags[3], dg, err, DigestOfBytes(want))
	}
	got, err := c.GetManifest(ctx, repo, tags[3])
	if err != nil || string(got) != string(want) {
		t.Errorf("GET %s = %s, %v; want %s", tags[3], got, err, want)
	}
	if _, err := c.GetManifest(ctx, repo, "absent"); !errdefs.IsNotFound(err) {
		t.Errorf("GET of a missing tag: err = %v, want class not found", err)
	}

	for _, n := range []int{5, 23, 100} {
		t.Run(fmt.Sprintf("tags n=%d", n), func(t *testing.T) {
			w, err := c.ListTags(ctx, repo, n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(w.Names, tags) {
				t.Errorf("walk gave %d tags %v..., want %d", len(w.Names), w.Names[:min(3, len(w.Names))], len(tags))
			}
			if err := checkWalk(w, n); err != nil {
				t.Error(err)
			}
		})
	}

	e.Config.RepoPrefix = "cat"
	repos, err := ensureRepos(ctx, e, 7)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.Catalog(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m := missingNames(append(repos, repo), w.Names); len(m) > 0 || w.Pages < 4 {
		t.Errorf("catalog in %d pages misses %v (got %v)", w.Pages, m, w.Names)
	}
}

// tinyConfig exercises every scenario in a second or two.
func tinyConfig() Config {
	c := DefaultConfig()
	c.RunID = "test"
	c.BlobSize, c.ChunkSize, c.LargeSize = 3<<20, 1<<20, pipelineMin+1
	c.Images, c.ImageLayers, c.LayerSize = 3, 3, 64<<10
	c.SmallCount, c.SmallSize = 20, 4<<10
	c.FewTags, c.ManyTags, c.TagPushes, c.Repos = 4, 25, 10, 12
	c.PageSize, c.Walks = 10, 2
	c.Duration = 100 * time.Millisecond
	c.SetupConcurrency = 4
	c.Concurrency = map[string]int{"*": 4}
	return c
}

func TestScenariosAgainstDistribution(t *testing.T) {
	url, pid := startDistribution(t)
	c := newTestClient(t, url)
	e := &Env{Client: c, Config: tinyConfig(), Meter: ProcMeter{PID: pid}, Digests: NewDigester(),
		Log: slog.New(slog.DiscardHandler)}
	scs, err := Select("all,large-blob")
	if err != nil {
		t.Fatal(err)
	}
	var results []Result
	for _, s := range scs {
		results = append(results, s.Run(context.Background(), e)...)
	}
	// pull and the fixtures again, now that everything exists.
	again, err := Select("pull,manifest-many,tag-list")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range again {
		results = append(results, s.Run(context.Background(), e)...)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.Name)
		if r.Failed != "" || r.Errors > 0 {
			t.Errorf("%s: failed %q, %d errors: %+v", r.Name, r.Failed, r.Errors, r.ErrorSamples)
			continue
		}
		if r.Ops == 0 || r.Value <= 0 || r.Server == nil || r.Server.PeakRSSBytes == 0 {
			t.Errorf("%s: implausible result %+v", r.Name, r)
		}
	}
	want := []string{"push-mono", "push-chunked", "pull", "push-images", "small-blobs/push", "small-blobs/pull",
		"manifest-few/head", "manifest-few/get", "manifest-many/head", "manifest-many/get", "tag-push",
		"tag-list", "catalog", "large-blob/push", "large-blob/pull",
		"pull", "manifest-many/head", "manifest-many/get", "tag-list"}
	if !slices.Equal(got, want) {
		t.Errorf("results %v, want %v", got, want)
	}
}
