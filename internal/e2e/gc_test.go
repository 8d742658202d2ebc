package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The GC stress test: `berth gc` runs in a loop beside the server's own
// periodic collection while clients push images that share layers, move a
// tag, delete old images and pull everything back. Leases are short so the
// collector really deletes during the run.
const (
	gcClients   = 4
	gcDuration  = 10 * time.Second
	gcBlobLease = 3 * time.Second
	gcGrace     = 4 * time.Second
)

// gcImage is an image a client pushed: what it must find again, or what
// must be gone once deleted.
type gcImage struct {
	repo, tag string
	config    content
	layers    []content
	manifest  content
	deleted   bool
}

func (im *gcImage) blobs() []content { return append([]content{im.config}, im.layers...) }

func TestGCStress(t *testing.T) {
	bin := berthBinary(t)
	p := berthtest.StartProcess(t, bin, berthtest.ProcessOptions{Env: []string{
		"BERTH_UPLOADS_BLOB_LEASE=" + gcBlobLease.String(),
		"BERTH_GC_GRACE=" + gcGrace.String(),
		"BERTH_GC_INTERVAL=1s",
	}})
	reg := p.Registry()
	shared := make([]content, 6)
	for i := range shared {
		shared[i] = newContent(v1.MediaTypeImageLayerGzip, randomBytes(2048, uint64(1000+i)))
	}

	ctx, cancel := context.WithTimeout(context.Background(), gcDuration)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		images   []*gcImage
		failures []string
		runs     atomic.Int64
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	wg.Go(func() { gcLoop(ctx, bin, p.DataDir, &runs, fail) })
	for w := range gcClients {
		wg.Go(func() {
			mine := gcClient(ctx, reg, w, shared, fail)
			mu.Lock()
			images = append(images, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		t.FailNow()
	}
	if runs.Load() < 3 {
		t.Fatalf("only %d gc runs completed during the storm", runs.Load())
	}

	// Everything that should exist is there, byte for byte.
	bg := context.Background()
	kept := map[digest.Digest]bool{}
	for _, im := range images {
		if im.deleted {
			continue
		}
		if err := pullImage(bg, reg, im); err != nil {
			t.Errorf("pull %s:%s: %v", im.repo, im.tag, err)
		}
		for _, c := range im.blobs() {
			kept[c.Desc.Digest] = true
		}
	}

	// Once the leases ended, a last run removes every blob no surviving
	// image uses.
	time.Sleep(max(gcBlobLease, gcGrace) + 500*time.Millisecond)
	out, err := exec.Command(bin, "gc", "--data-dir", p.DataDir, "-o", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("final berth gc: %v\n%s", err, out)
	}
	for _, im := range images {
		if !im.deleted {
			if err := pullImage(bg, reg, im); err != nil {
				t.Errorf("pull %s:%s after the final gc: %v", im.repo, im.tag, err)
			}
		}
	}
	p.Stop()
	store, err := filesystem.New(filepath.Join(p.DataDir, "storage"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var gone, stayed int
	for _, im := range images {
		for _, c := range im.blobs() {
			_, err := store.Stat(bg, c.Desc.Digest)
			switch {
			case kept[c.Desc.Digest] && err != nil:
				t.Errorf("blob %s of a kept image: %v", c.Desc.Digest, err)
			case !kept[c.Desc.Digest] && !errdefs.IsNotFound(err):
				t.Errorf("blob %s no image uses is still stored (err %v)", c.Desc.Digest, err)
			case kept[c.Desc.Digest]:
				stayed++
			default:
				gone++
			}
		}
	}
	t.Logf("%d gc runs beside the server's; %d images, %d blob checks kept, %d gone", runs.Load(), len(images), stayed, gone)
	if gone == 0 {
		t.Error("no blob was collected: the test did not exercise deletion")
	}
}

// gcLoop runs `berth gc` until ctx ends.
func gcLoop(ctx context.Context, bin, dataDir string, runs *atomic.Int64, fail func(string, ...any)) {
	for ctx.Err() == nil {
		cmd := exec.Command(bin, "gc", "--data-dir", dataDir, "-o", "json", "--batch", "7", "--workers", "4")
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				fail("berth gc: %v: %s", err, ee.Stderr)
			} else {
				fail("berth gc: %v", err)
			}
			return
		}
		var rep struct{ Deleted int64 }
		if err := json.Unmarshal(out, &rep); err != nil {
			fail("berth gc output %q: %v", out, err)
			return
		}
		runs.Add(1)
	}
}

// gcClient pushes images into one repository until ctx ends: each has a
// unique config and layer and a shared one; "latest" follows the newest;
// images older than the last two are deleted. Every push is pulled back.
func gcClient(ctx context.Context, reg *berthtest.Registry, w int, shared []content, fail func(string, ...any)) []*gcImage {
	repo := fmt.Sprintf("gc/client-%d", w%2)
	var mine []*gcImage
	bg := context.Background()
	for i := 0; ctx.Err() == nil; i++ {
		im := newGCImage(repo, fmt.Sprintf("w%d-%d", w, i), shared[(w+i)%len(shared)])
		if err := pushGCImage(bg, reg, im); err != nil {
			fail("client %d push %s: %v", w, im.tag, err)
			return mine
		}
		mine = append(mine, im)
		if _, err := reg.PutManifest(bg, repo, fmt.Sprintf("latest-%d", w), im.manifest.Desc.MediaType, im.manifest.Data); err != nil {
			fail("client %d re-tag: %v", w, err)
			return mine
		}
		if err := pullImage(bg, reg, im); err != nil {
			fail("client %d pull %s: %v", w, im.tag, err)
			return mine
		}
		if len(mine) > 2 {
			old := mine[len(mine)-3]
			if !old.deleted {
				if err := reg.DeleteManifest(bg, repo, old.manifest.Desc.Digest.String()); err != nil {
					fail("client %d delete %s: %v", w, old.tag, err)
					return mine
				}
				old.deleted = true
			}
		}
	}
	return mine
}

func newGCImage(repo, tag string, sharedLayer content) *gcImage {
	unique := newContent(v1.MediaTypeImageLayerGzip, []byte("layer of "+repo+":"+tag+":"+strings.Repeat("x", 512)))
	config := newContent(v1.MediaTypeImageConfig, mustMarshal(map[string]string{"image": repo + ":" + tag}))
	man := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    config.Desc,
		Layers:    []v1.Descriptor{sharedLayer.Desc, unique.Desc},
	}
	return &gcImage{repo: repo, tag: tag, config: config, layers: []content{sharedLayer, unique},
		manifest: newContent(v1.MediaTypeImageManifest, mustMarshal(man))}
}

// pushGCImage pushes as clients do: a blob the registry says it has (HEAD
// 200) is not uploaded again; then the manifest.
func pushGCImage(ctx context.Context, reg *berthtest.Registry, im *gcImage) error {
	for _, c := range im.blobs() {
		have, err := headBlob(ctx, reg, im.repo, c.Desc.Digest)
		if err != nil {
			return err
		}
		if !have {
			if _, err := reg.PushBlob(ctx, im.repo, c.Data); err != nil {
				return err
			}
		}
	}
	_, err := reg.PutManifest(ctx, im.repo, im.tag, im.manifest.Desc.MediaType, im.manifest.Data)
	return err
}

func headBlob(ctx context.Context, reg *berthtest.Registry, repo string, d digest.Digest) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, reg.Base+"/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := reg.HTTP.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("HEAD blob %s: status %d", d, resp.StatusCode)
}

// pullImage checks the manifest (by tag and by digest) and every blob.
func pullImage(ctx context.Context, reg *berthtest.Registry, im *gcImage) error {
	for _, ref := range []string{im.tag, im.manifest.Desc.Digest.String()} {
		body, _, _, err := reg.GetManifest(ctx, im.repo, ref)
		if err != nil {
			return err
		}
		if string(body) != string(im.manifest.Data) {
			return fmt.Errorf("manifest %s differs", ref)
		}
	}
	for _, c := range im.blobs() {
		got, err := reg.GetBlob(ctx, im.repo, c.Desc.Digest)
		if err != nil {
			return err
		}
		if string(got) != string(c.Data) {
			return fmt.Errorf("blob %s differs", c.Desc.Digest)
		}
	}
	return nil
}
