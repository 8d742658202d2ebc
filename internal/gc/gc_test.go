package gc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/blob/s3"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/postgres"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/pgtest"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/s3test"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The collector runs on the real stores (a SQLite file and a blob
// directory) with a registry service pushing into them and a clock the
// test moves.

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	meta  meta.Store
	gc    meta.Collector
	blobs blob.Store
	svc   *registry.Service
	clock *clock
}

const testLease = 2 * time.Hour

var quiet = slog.New(slog.DiscardHandler)

// backend opens a fresh pair of stores.
type backend struct {
	name string
	open func(t testing.TB) (meta.Store, blob.Store)
}

// backends are the embedded pair (SQLite, filesystem) and the scale-out
// pair (PostgreSQL, S3 through versitygw), which is skipped where those
// servers are not available.
var backends = []backend{
	{"sqlite+filesystem", openEmbedded},
	{"postgres+s3", openScaleOut},
}

func openEmbedded(t testing.TB) (meta.Store, blob.Store) {
	t.Helper()
	dir := t.TempDir()
	m, err := sqlite.Open(t.Context(), filepath.Join(dir, "berth.db"), sqlite.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := filesystem.New(filepath.Join(dir, "storage"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

func openScaleOut(t testing.TB) (meta.Store, blob.Store) {
	t.Helper()
	tpl := pgtest.Template(t, "berth-gc", func(ctx context.Context, url string) error {
		return postgres.Migrate(ctx, url, postgres.Options{Logger: quiet})
	})
	m, err := postgres.Open(t.Context(), pgtest.NewDatabaseFrom(t, tpl), postgres.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	bucket := s3test.NewBucket(t)
	b, err := s3.Open(t.Context(), bucket.URL, s3.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

// forEachBackend runs fn on a fresh env of every backend pair.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { fn(t, newEnv(t, be)) })
	}
}

func newEnv(t testing.TB, be backend) *env {
	t.Helper()
	m, b := be.open(t)
	mc, ok := meta.CollectorOf(m)
	if !ok {
		t.Fatalf("%T has no Collector", m)
	}
	clk := &clock{now: time.Now().UTC()}
	svc := registry.New(m, b, registry.Options{BlobLease: testLease, GCGrace: time.Hour, Now: clk.Now})
	return &env{meta: m, gc: mc, blobs: b, svc: svc, clock: clk}
}

func (e *env) collector(t *testing.T) *Collector {
	t.Helper()
	c, err := New(e.meta, e.blobs, Config{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) putBlob(t *testing.T, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	if _, err := e.svc.PutBlob(t.Context(), repo, d, bytes.NewReader(data)); err != nil {
		t.Fatalf("put blob: %v", err)
	}
	return d
}

// pushImage pushes config and layers and a manifest naming them, tagged tag.
func (e *env) pushImage(t *testing.T, repo, tag string, config []byte, layers ...[]byte) digest.Digest {
	t.Helper()
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: e.putBlob(t, repo, config), Size: int64(len(config))},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: e.putBlob(t, repo, l), Size: int64(len(l))})
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.PutManifest(t.Context(), registry.ManifestPut{Repository: repo, Reference: tag, ContentType: v1.MediaTypeImageManifest, Body: body})
	if err != nil {
		t.Fatalf("push manifest: %v", err)
	}
	return res.Digest
}

// stored reports whether the blob store holds d, and its bytes if so.
func (e *env) stored(t *testing.T, d digest.Digest) bool {
	t.Helper()
	rc, err := e.blobs.Open(t.Context(), d)
	if errdefs.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(data) != d {
		t.Fatalf("blob %s holds other bytes", d)
	}
	return true
}

func (e *env) recorded(t *testing.T, d digest.Digest) bool {
	t.Helper()
	_, err := e.meta.GetBlob(t.Context(), d)
	if err != nil && !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// fixture pushes an image (referenced), a blob whose lease is live, and
// two loose blobs whose leases will have expired; it returns the digests of
// the kept and of the garbage blobs.
func fixture(t *testing.T, e *env) (kept, garbage []digest.Digest) {
	t.Helper()
	e.pushImage(t, "app", "v1", []byte(`{"config":1}`), []byte("shared layer"), []byte("app layer"))
	garbage = append(garbage, e.putBlob(t, "app", []byte("loose one")), e.putBlob(t, "other", []byte("loose two")))
	e.clock.Advance(testLease + time.Minute)
	kept = append(kept, digest.FromString(`{"config":1}`), digest.FromString("shared layer"), digest.FromString("app layer"))
	kept = append(kept, e.putBlob(t, "app", []byte("fresh upload")))
	slices.Sort(kept)
	slices.Sort(garbage)
	return kept, garbage
}

func sorted(ds []digest.Digest) []digest.Digest {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

func TestRunDeletesOnlyGarbage(t *testing.T) { forEachBackend(t, testRunDeletesOnlyGarbage) }

func testRunDeletesOnlyGarbage(t *testing.T, e *env) {
	kept, garbage := fixture(t, e)
	var progress []Progress
	rep, err := e.collector(t).Run(t.Context(), Options{BatchSize: 1, Workers: 2, Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := cmp.Diff(garbage, sorted(rep.Digests)); d != "" {
		t.Errorf("reclaimed digests (-want +got):\n%s", d)
	}
	wantBytes := int64(len("loose one") + len("loose two"))
	if rep.Deleted != 2 || rep.Bytes != wantBytes || rep.Examined != 2 || rep.Kept != 0 {
		t.Errorf("report = %+v, want 2 deleted, %d bytes", rep, wantBytes)
	}
	if len(progress) != 2 || progress[1] != (Progress{Examined: 2, Deleted: 2, Bytes: wantBytes}) {
		t.Errorf("progress = %+v, want two batches ending at the totals", progress)
	}
	for _, d := range garbage {
		if e.recorded(t, d) || e.stored(t, d) {
			t.Errorf("garbage %s survived", d)
		}
	}
	for _, d := range kept {
		if !e.recorded(t, d) || !e.stored(t, d) {
			t.Errorf("kept blob %s is gone", d)
		}
	}
	if ts, err := e.gc.ListTombstones(t.Context(), "", 0); err != nil || len(ts) != 0 {
		t.Errorf("tombstones left: %v, %v", ts, err)
	}
	again, err := e.collector(t).Run(t.Context(), Options{})
	if err != nil || again.Deleted != 0 {
		t.Errorf("second run = %+v, %v; want nothing to do", again, err)
	}
}

func TestDeletedManifestFreesItsBlobs(t *testing.T) {
	forEachBackend(t, testDeletedManifestFreesItsBlobs)
}

func testDeletedManifestFreesItsBlobs(t *testing.T, e *env) {
	e.pushImage(t, "app", "v1", []byte(`{"config":1}`), []byte("shared layer"), []byte("v1 layer"))
	e.pushImage(t, "app", "v2", []byte(`{"config":2}`), []byte("shared layer"), []byte("v2 layer"))
	if _, err := e.meta.DeleteTag(t.Context(), mustRepoID(t, e, "app"), "v1"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteManifest(t.Context(), "app", pushedDigest(t, []byte(`{"config":1}`), []byte("shared layer"), []byte("v1 layer"))); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	e.clock.Advance(testLease + time.Minute)
	rep, err := e.collector(t).Run(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := sorted([]digest.Digest{digest.FromString(`{"config":1}`), digest.FromString("v1 layer")})
	if d := cmp.Diff(want, sorted(rep.Digests)); d != "" {
		t.Errorf("reclaimed (-want +got):\n%s", d)
	}
	if !e.stored(t, digest.FromString("shared layer")) {
		t.Error("the layer v2 still uses was deleted")
	}
}

func mustRepoID(t *testing.T, e *env, name string) int64 {
	t.Helper()
	r, err := e.meta.GetRepository(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// pushedDigest is the digest pushImage's manifest has for these blobs.
func pushedDigest(t *testing.T, config []byte, layers ...[]byte) string {
	t.Helper()
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromBytes(l), Size: int64(len(l))})
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return digest.FromBytes(body).String()
}

func TestDryRunEqualsRun(t *testing.T) { forEachBackend(t, testDryRunEqualsRun) }

func testDryRunEqualsRun(t *testing.T, e *env) {
	_, garbage := fixture(t, e)
	dry, err := e.collector(t).Run(t.Context(), Options{DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	for _, d := range garbage {
		if !e.recorded(t, d) || !e.stored(t, d) {
			t.Errorf("dry run deleted %s", d)
		}
	}
	real, err := e.collector(t).Run(t.Context(), Options{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	type summary struct {
		Deleted, Bytes int64
		Digests        []digest.Digest
	}
	if d := cmp.Diff(summary{dry.Deleted, dry.Bytes, sorted(dry.Digests)}, summary{real.Deleted, real.Bytes, sorted(real.Digests)}); d != "" {
		t.Errorf("dry run vs run (-dry +real):\n%s", d)
	}
	if !dry.DryRun || real.DryRun {
		t.Errorf("DryRun flags = %v, %v", dry.DryRun, real.DryRun)
	}
}

func TestResumeAfterCrash(t *testing.T) { forEachBackend(t, testResumeAfterCrash) }

func testResumeAfterCrash(t *testing.T, e *env) {
	kept, garbage := fixture(t, e)
	// The first collector stops after its metadata deletes, as a crash
	// before the byte deletes would.
	first, err := e.collector(t).Run(t.Context(), Options{metadataOnly: true})
	if err != nil {
		t.Fatalf("first phase: %v", err)
	}
	if first.Deleted != 0 {
		t.Errorf("first phase reported %d deleted", first.Deleted)
	}
	for _, d := range garbage {
		if e.recorded(t, d) || !e.stored(t, d) {
			t.Fatalf("after the metadata phase %s: recorded=%v stored=%v, want only stored", d, e.recorded(t, d), e.stored(t, d))
		}
	}
	dry, err := e.collector(t).Run(t.Context(), Options{DryRun: true})
	if err != nil || dry.Resumed != int64(len(garbage)) {
		t.Errorf("dry run after the crash = %+v, %v; want %d pending", dry, err, len(garbage))
	}
	rep, err := e.collector(t).Run(t.Context(), Options{})
	if err != nil {
		t.Fatalf("next run: %v", err)
	}
	if rep.Resumed != int64(len(garbage)) {
		t.Errorf("resumed %d, want %d", rep.Resumed, len(garbage))
	}
	for _, d := range garbage {
		if e.stored(t, d) {
			t.Errorf("%s still stored after the resumed run", d)
		}
	}
	for _, d := range kept {
		if !e.stored(t, d) {
			t.Errorf("kept %s is gone", d)
		}
	}
}

func TestResumeGoesPastLeasedTombstones(t *testing.T) {
	forEachBackend(t, testResumeGoesPastLeasedTombstones)
}

// Tombstones an upload holds (leased) stay for a later run, and do not
// stop the run from finishing the others, whatever the batch size.
func testResumeGoesPastLeasedTombstones(t *testing.T, e *env) {
	_, garbage := fixture(t, e)
	if _, err := e.collector(t).Run(t.Context(), Options{metadataOnly: true}); err != nil {
		t.Fatal(err)
	}
	// The first tombstone in digest order is leased by an upload.
	if err := e.gc.LeaseBlobForCommit(t.Context(), garbage[0], e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rep, err := e.collector(t).Run(t.Context(), Options{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resumed != 1 || rep.Kept != 1 {
		t.Errorf("report = %+v, want 1 resumed and 1 kept", rep)
	}
	if !e.stored(t, garbage[0]) || e.stored(t, garbage[1]) {
		t.Errorf("stored: leased %v (want true), other %v (want false)", e.stored(t, garbage[0]), e.stored(t, garbage[1]))
	}
}

func TestRepushBetweenMetadataAndBytes(t *testing.T) {
	forEachBackend(t, testRepushBetweenMetadataAndBytes)
}

func testRepushBetweenMetadataAndBytes(t *testing.T, e *env) {
	_, garbage := fixture(t, e)
	if _, err := e.collector(t).Run(t.Context(), Options{metadataOnly: true}); err != nil {
		t.Fatal(err)
	}
	// A client pushes "loose one" again while its tombstone is pending:
	// the blob store still holds the bytes and keeps them.
	again := e.putBlob(t, "app", []byte("loose one"))
	rep, err := e.collector(t).Run(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.recorded(t, again) || !e.stored(t, again) {
		t.Fatalf("re-pushed blob lost: recorded=%v stored=%v", e.recorded(t, again), e.stored(t, again))
	}
	for _, d := range garbage {
		if d != again && e.stored(t, d) {
			t.Errorf("%s still stored", d)
		}
	}
	if rep.Resumed != 1 {
		t.Errorf("resumed %d, want 1 (the other blob)", rep.Resumed)
	}
}

func TestRepushWhileSweeping(t *testing.T) { forEachBackend(t, testRepushWhileSweeping) }

func testRepushWhileSweeping(t *testing.T, e *env) {
	_, garbage := fixture(t, e)
	if _, err := e.collector(t).Run(t.Context(), Options{metadataOnly: true}); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("loose one")
	if !slices.Contains(garbage, d) {
		t.Fatal("fixture changed")
	}
	// A sweeper has claimed the tombstone and is about to delete the bytes.
	res, err := e.gc.ClaimTombstone(t.Context(), d, e.clock.Now())
	if err != nil || res != meta.ClaimOK {
		t.Fatalf("ClaimTombstone = %v, %v", res, err)
	}
	pushed := make(chan error, 1)
	go func() {
		_, err := e.svc.PutBlob(context.Background(), "app", d, bytes.NewReader([]byte("loose one")))
		pushed <- err
	}()
	// The push waits for the sweep: it must not record the blob yet.
	select {
	case err := <-pushed:
		t.Fatalf("push finished while the sweep held the digest: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := e.blobs.Delete(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if err := e.gc.DeleteTombstone(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if err := <-pushed; err != nil {
		t.Fatalf("push after the sweep: %v", err)
	}
	if !e.recorded(t, d) || !e.stored(t, d) {
		t.Fatalf("re-pushed blob: recorded=%v stored=%v, want both", e.recorded(t, d), e.stored(t, d))
	}
}

func TestHeadRenewsLease(t *testing.T) { forEachBackend(t, testHeadRenewsLease) }

func testHeadRenewsLease(t *testing.T, e *env) {
	_, garbage := fixture(t, e)
	// A client HEADs a loose blob (it will name it in a manifest): it is
	// protected for the grace period.
	if _, err := e.svc.StatBlob(t.Context(), "app", digest.FromString("loose one")); err != nil {
		t.Fatal(err)
	}
	rep, err := e.collector(t).Run(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []digest.Digest{digest.FromString("loose two")}
	if d := cmp.Diff(want, rep.Digests); d != "" {
		t.Errorf("reclaimed (-want +got):\n%s", d)
	}
	e.clock.Advance(90 * time.Minute) // past the grace, not past "fresh upload"'s lease
	rep, err = e.collector(t).Run(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]digest.Digest{digest.FromString("loose one")}, rep.Digests); d != "" {
		t.Errorf("after the grace (-want +got):\n%s", d)
	}
	if _, err := e.svc.StatBlob(t.Context(), "app", garbage[0]); !errdefs.IsNotFound(err) {
		t.Errorf("StatBlob of a collected blob = %v, want not found", err)
	}
}

func TestNewNeedsCollector(t *testing.T) {
	e := newEnv(t, backends[0])
	_, err := New(plainStore{e.meta}, e.blobs, Config{})
	if !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("New(store without Collector) = %v, want ErrUnsupported", err)
	}
}

// plainStore hides the backend's optional abilities.
type plainStore struct{ meta.Store }

// TestMain stops the PostgreSQL and S3 servers the scale-out pair started.
func TestMain(m *testing.M) {
	pgtest.Begin()
	code := m.Run()
	if err := pgtest.End(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		code = max(code, 1)
	}
	s3test.Cleanup()
	os.Exit(code)
}
