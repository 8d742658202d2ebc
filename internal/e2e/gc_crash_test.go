package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The GC crash test seeds garbage, lets the server's periodic collection
// start on it, kills the server with SIGKILL in the middle of the sweep,
// restarts it and lets the next run finish.
const (
	crashGarbage = 4000
	crashLease   = 2 * time.Second
)

// TestGCCrashMidSweep: after a SIGKILL in the middle of a sweep and a
// restart, the next run completes: every referenced blob is still there
// (each image pulls byte-identical), every unreferenced blob is gone, and
// no tombstone is left.
func TestGCCrashMidSweep(t *testing.T) {
	bin := berthBinary(t)
	dataDir := t.TempDir()
	env := func(gcOn bool) berthtest.ProcessOptions {
		return berthtest.ProcessOptions{DataDir: dataDir, Env: []string{
			"BERTH_UPLOADS_BLOB_LEASE=" + crashLease.String(),
			"BERTH_GC_GRACE=" + crashLease.String(),
			fmt.Sprintf("BERTH_GC_ENABLED=%t", gcOn),
			"BERTH_GC_INTERVAL=1s",
		}}
	}

	// Seed, with collection off: a few images, and garbage.
	p := berthtest.StartProcess(t, bin, env(false))
	images, referenced := seedCrashImages(t, p.Registry())
	seedCrashGarbage(t, p.Registry())
	if code := p.Stop(); code != 0 {
		t.Fatalf("berth serve exited with %d after SIGTERM", code)
	}
	storage := filepath.Join(dataDir, "storage")
	if n := len(storedDigests(t, storage)); n != len(referenced)+crashGarbage {
		t.Fatalf("seeded store holds %d blobs, want %d", n, len(referenced)+crashGarbage)
	}
	time.Sleep(crashLease + 200*time.Millisecond) // the uploads' leases end

	// Collection on; kill the server once the sweep has deleted some
	// garbage bytes and not all.
	p = berthtest.StartProcess(t, bin, env(true))
	left := killMidSweep(t, p, storage, len(referenced))
	tombstones := countTombstones(t, dataDir)
	t.Logf("killed mid-sweep: %d of %d garbage blobs still stored, %d tombstones", left, crashGarbage, tombstones)
	checkDatabase(t, dataDir, "after SIGKILL mid-sweep")

	// Restart: the server's own periodic collection must start again by
	// itself (the killed run's job does not block it) and finish the
	// tombstones and the rest of the garbage.
	p = berthtest.StartProcess(t, bin, env(true))
	waitCollected(t, storage, dataDir, len(referenced))
	// A run after that finds nothing left to do.
	out, err := exec.Command(bin, "gc", "--data-dir", dataDir, "-o", "json").Output()
	if err != nil {
		t.Fatalf("berth gc after the restart: %v\n%s", err, out)
	}
	var rep struct{ Resumed, Deleted int64 }
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("berth gc output %q: %v", out, err)
	}
	if rep.Resumed != 0 || rep.Deleted != 0 {
		t.Errorf("berth gc after the server's recovery resumed %d and deleted %d; want nothing left", rep.Resumed, rep.Deleted)
	}
	stored := storedDigests(t, storage)
	if !maps.Equal(stored, referenced) {
		t.Errorf("store holds %d blobs, want exactly the %d referenced ones", len(stored), len(referenced))
		for d := range referenced {
			if !stored[d] {
				t.Errorf("referenced blob %s was lost", d)
			}
		}
	}
	if n := countTombstones(t, dataDir); n != 0 {
		t.Errorf("%d tombstones left after the next run", n)
	}
	for _, im := range images {
		if err := pullImage(context.Background(), p.Registry(), im); err != nil {
			t.Errorf("pull %s:%s after the crash and the next run: %v", im.repo, im.tag, err)
		}
	}
	if code := p.Stop(); code != 0 {
		t.Errorf("berth serve exited with %d after SIGTERM", code)
	}
	checkDatabase(t, dataDir, "after the recovered sweep")
}

// seedCrashImages pushes images sharing a layer and returns them with the
// set of blobs they reference.
func seedCrashImages(t *testing.T, reg *berthtest.Registry) ([]*gcImage, map[digest.Digest]bool) {
	t.Helper()
	shared := newContent(v1.MediaTypeImageLayerGzip, randomBytes(4096, 77))
	var images []*gcImage
	referenced := map[digest.Digest]bool{}
	for i := range 6 {
		im := newGCImage(fmt.Sprintf("crash/app-%d", i%2), fmt.Sprintf("v%d", i), shared)
		if err := pushGCImage(t.Context(), reg, im); err != nil {
			t.Fatalf("push %s: %v", im.tag, err)
		}
		images = append(images, im)
		for _, c := range im.blobs() {
			referenced[c.Desc.Digest] = true
		}
	}
	return images, referenced
}

// seedCrashGarbage pushes crashGarbage distinct 1 KiB blobs no manifest
// names, 16 at once.
func seedCrashGarbage(t *testing.T, reg *berthtest.Registry) {
	t.Helper()
	errs := blob.ParallelEach(t.Context(), crashGarbage, 16, func(ctx context.Context, i int) error {
		data := []byte(fmt.Sprintf("garbage %06d ", i) + strings.Repeat("g", 1010))
		_, err := reg.PushBlob(ctx, "crash/loose", data)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("push garbage blob %d: %v", i, err)
		}
	}
}

// killMidSweep polls the blob directory until the running collection has
// deleted some garbage and not all of it, then kills p with SIGKILL. It
// returns how many garbage blobs were still stored after the kill.
func killMidSweep(t *testing.T, p *berthtest.Process, storage string, referenced int) int {
	t.Helper()
	all := referenced + crashGarbage
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := len(storedDigests(t, storage))
		if n < all-crashGarbage/20 {
			p.Kill()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collection deleted nothing within 20s (%d blobs stored)", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	left := len(storedDigests(t, storage)) - referenced
	if left <= 0 {
		t.Fatalf("the sweep finished before the kill (%d garbage blobs left): the test did not crash it midway", left)
	}
	return left
}

// storedDigests lists the blobs of the filesystem store under storage
// (its layout: blobs/<alg>/<hex[0:2]>/<hex>).
func storedDigests(t *testing.T, storage string) map[digest.Digest]bool {
	t.Helper()
	out := map[digest.Digest]bool{}
	root := filepath.Join(storage, "blobs")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			alg := filepath.Base(filepath.Dir(filepath.Dir(path)))
			out[digest.NewDigestFromEncoded(digest.Algorithm(alg), d.Name())] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// countTombstones reads how many tombstones the SQLite file of dataDir
// holds (read-only; the server may be running).
func countTombstones(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "berth.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM gc_tombstones").Scan(&n); err != nil {
		t.Fatalf("count tombstones: %v", err)
	}
	return n
}

// waitCollected waits (bounded) until the store holds no more than want
// blobs and no tombstone is left: the restarted server's periodic
// collection has finished.
func waitCollected(t *testing.T, storage, dataDir string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, tomb := len(storedDigests(t, storage)), countTombstones(t, dataDir)
		if n <= want && tomb == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the restart the store still holds %d blobs (want %d) and %d tombstones: the periodic collection did not resume", n, want, tomb)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
