package cache_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/cache"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/opencontainers/go-digest"
)

func openSQLite(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The cache must keep every promise of the metadata contract.
func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		return cache.New(openSQLite(t, filepath.Join(t.TempDir(), "m.db")), cache.Options{})
	})
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is one repository with two manifests, a tag on the first, in a
// database shared by a cached store (this replica) and a plain one (another
// replica writing behind its back).
type fixture struct {
	cached *cache.Store
	other  meta.Store
	clock  *clock
	repo   int64
	m1, m2 digest.Digest
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	other := openSQLite(t, path)
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	f := &fixture{other: other, clock: clk}
	f.cached = cache.New(openSQLite(t, path), cache.Options{TTL: time.Minute, Now: clk.now})
	ctx := context.Background()
	r, err := other.EnsureRepository(ctx, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	f.repo = r.ID
	for i, d := range []*digest.Digest{&f.m1, &f.m2} {
		body := []byte(`{"schemaVersion":2,"n":` + string(rune('1'+i)) + `}`)
		*d = digest.FromBytes(body)
		m := &meta.Manifest{RepositoryID: r.ID, Digest: *d, MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: int64(len(body)), Content: body}
		if err := other.PutManifest(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.PutTag(ctx, r.ID, "latest", f.m1); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) tagged(t *testing.T) digest.Digest {
	t.Helper()
	m, err := f.cached.GetTaggedManifest(context.Background(), f.repo, "latest", true)
	if err != nil {
		t.Fatalf("GetTaggedManifest: %v", err)
	}
	return m.Digest
}

func TestOwnWritesAreSeenAtOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if got := f.tagged(t); got != f.m1 {
		t.Fatalf("latest = %s, want %s", got, f.m1)
	}
	if _, err := f.cached.PutTag(ctx, f.repo, "latest", f.m2); err != nil {
		t.Fatal(err)
	}
	if got := f.tagged(t); got != f.m2 {
		t.Errorf("after moving the tag through the cache, latest = %s, want %s", got, f.m2)
	}
	err := f.cached.WithTx(ctx, func(tx meta.Querier) error {
		if _, err := tx.DeleteTag(ctx, f.repo, "latest"); err != nil {
			return err
		}
		return tx.DeleteManifest(ctx, f.repo, f.m2)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cached.GetTaggedManifest(ctx, f.repo, "latest", false); !errdefs.IsNotFound(err) {
		t.Errorf("deleted tag: err = %v, want not found", err)
	}
	if _, err := f.cached.GetManifest(ctx, f.repo, f.m2, true); !errdefs.IsNotFound(err) {
		t.Errorf("deleted manifest: err = %v, want not found", err)
	}
}

func TestOtherWritersAreSeenAfterInvalidateOrTTL(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.tagged(t) // fill
	if _, err := f.other.PutTag(ctx, f.repo, "latest", f.m2); err != nil {
		t.Fatal(err)
	}
	if got := f.tagged(t); got != f.m1 {
		t.Fatalf("without an invalidation the cache should still answer %s, got %s (is it caching at all?)", f.m1, got)
	}
	f.cached.Invalidate(meta.Change{RepositoryID: f.repo, Tag: "latest"})
	if got := f.tagged(t); got != f.m2 {
		t.Errorf("after Invalidate, latest = %s, want %s", got, f.m2)
	}
	if _, err := f.other.PutTag(ctx, f.repo, "latest", f.m1); err != nil {
		t.Fatal(err)
	}
	f.clock.add(2 * time.Minute)
	if got := f.tagged(t); got != f.m1 {
		t.Errorf("after the TTL, latest = %s, want %s", got, f.m1)
	}
}

func TestHeadThenGet(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	head, err := f.cached.GetTaggedManifest(ctx, f.repo, "latest", false)
	if err != nil || head.Content != nil {
		t.Fatalf("HEAD read: %v, content %q", err, head.Content)
	}
	get, err := f.cached.GetTaggedManifest(ctx, f.repo, "latest", true)
	if err != nil || len(get.Content) == 0 || digest.FromBytes(get.Content) != f.m1 {
		t.Fatalf("GET after HEAD: %v, content %q", err, get.Content)
	}
	again, err := f.cached.GetTaggedManifest(ctx, f.repo, "latest", false)
	if err != nil || again.Content != nil || again.Digest != f.m1 {
		t.Errorf("HEAD after GET: %v, digest %s, content %q (HEAD must not carry content)", err, again.Digest, again.Content)
	}
}

// slowStore blocks GetTaggedManifest after it read the database, until
// released, to hold a read open across a concurrent write.
type slowStore struct {
	meta.Store
	read    chan struct{}
	release chan struct{}
}

func (s *slowStore) GetTaggedManifest(ctx context.Context, repo int64, tag string, withContent bool) (*meta.Manifest, error) {
	m, err := s.Store.GetTaggedManifest(ctx, repo, tag, withContent)
	if s.read != nil {
		close(s.read)
		<-s.release
		s.read = nil
	}
	return m, err
}

// A read that began before a write must not put its stale answer into the
// cache after the write invalidated it.
func TestRacingReadDoesNotRefillStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	base := openSQLite(t, path)
	slow := &slowStore{Store: base}
	c := cache.New(slow, cache.Options{TTL: time.Hour})
	ctx := context.Background()
	r, _ := base.EnsureRepository(ctx, "a")
	var ds []digest.Digest
	for _, body := range []string{`{"a":1}`, `{"a":2}`} {
		d := digest.FromString(body)
		ds = append(ds, d)
		if err := base.PutManifest(ctx, &meta.Manifest{RepositoryID: r.ID, Digest: d, MediaType: "x/y", Size: int64(len(body)), Content: []byte(body)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := base.PutTag(ctx, r.ID, "t", ds[0]); err != nil {
		t.Fatal(err)
	}
	slow.read, slow.release = make(chan struct{}), make(chan struct{})
	done := make(chan digest.Digest)
	go func() {
		m, err := c.GetTaggedManifest(ctx, r.ID, "t", true)
		if err != nil {
			t.Error(err)
		}
		done <- m.Digest
	}()
	<-slow.read // the reader holds the old answer
	if _, err := c.PutTag(ctx, r.ID, "t", ds[1]); err != nil {
		t.Fatal(err)
	}
	close(slow.release)
	if got := <-done; got != ds[0] {
		t.Fatalf("racing read returned %s, want the old %s", got, ds[0])
	}
	m, err := c.GetTaggedManifest(ctx, r.ID, "t", true)
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest != ds[1] {
		t.Errorf("after the race the cache answers %s, want the new %s", m.Digest, ds[1])
	}
}

func BenchmarkGetTaggedManifest(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.db")
	c := cache.New(openSQLite(b, path), cache.Options{})
	ctx := context.Background()
	r, _ := c.EnsureRepository(ctx, "a")
	body := []byte(`{"schemaVersion":2}`)
	d := digest.FromBytes(body)
	_ = c.PutManifest(ctx, &meta.Manifest{RepositoryID: r.ID, Digest: d, MediaType: "x/y", Size: int64(len(body)), Content: body}, nil)
	_, _ = c.PutTag(ctx, r.ID, "t", d)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetTaggedManifest(ctx, r.ID, "t", true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestSharedConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		return cache.New(openSQLite(t, filepath.Join(t.TempDir(), "m.db")), cache.Options{Shared: true})
	})
}

// countingStore counts reads of manifest bytes.
type countingStore struct {
	meta.Store
	mu            sync.Mutex
	contentReads  int
	metadataReads int
}

func (s *countingStore) count(withContent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if withContent {
		s.contentReads++
	} else {
		s.metadataReads++
	}
}

func (s *countingStore) GetManifest(ctx context.Context, repo int64, d digest.Digest, withContent bool) (*meta.Manifest, error) {
	s.count(withContent)
	return s.Store.GetManifest(ctx, repo, d, withContent)
}

func (s *countingStore) GetTaggedManifest(ctx context.Context, repo int64, tag string, withContent bool) (*meta.Manifest, error) {
	s.count(withContent)
	return s.Store.GetTaggedManifest(ctx, repo, tag, withContent)
}

// In shared mode another process's writes are seen at once, with no
// invalidation: only immutable bytes come from memory.
func TestSharedModeNeverServesChangedAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	other := openSQLite(t, path)
	counted := &countingStore{Store: openSQLite(t, path)}
	c := cache.New(counted, cache.Options{Shared: true, TTL: time.Hour})
	ctx := context.Background()
	r, err := other.EnsureRepository(ctx, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	var ds []digest.Digest
	for _, body := range []string{`{"v":1}`, `{"v":2}`} {
		d := digest.FromString(body)
		ds = append(ds, d)
		if err := other.PutManifest(ctx, &meta.Manifest{RepositoryID: r.ID, Digest: d, MediaType: "x/y", Size: int64(len(body)), Content: []byte(body)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.PutTag(ctx, r.ID, "t", ds[0]); err != nil {
		t.Fatal(err)
	}
	get := func() *meta.Manifest {
		t.Helper()
		m, err := c.GetTaggedManifest(ctx, r.ID, "t", true)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := get(); m.Digest != ds[0] || string(m.Content) != `{"v":1}` {
		t.Fatalf("first read: %s %q", m.Digest, m.Content)
	}
	get()
	if counted.contentReads != 1 {
		t.Errorf("two GETs of the same manifest read its bytes %d times, want once (the bytes are cached)", counted.contentReads)
	}
	if _, err := other.PutTag(ctx, r.ID, "t", ds[1]); err != nil {
		t.Fatal(err)
	}
	if m := get(); m.Digest != ds[1] || string(m.Content) != `{"v":2}` {
		t.Errorf("after another process moved the tag: %s %q, want %s at once", m.Digest, m.Content, ds[1])
	}
	if _, err := other.DeleteTag(ctx, r.ID, "t"); err != nil {
		t.Fatal(err)
	}
	if err := other.DeleteManifest(ctx, r.ID, ds[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTaggedManifest(ctx, r.ID, "t", false); !errdefs.IsNotFound(err) {
		t.Errorf("tag deleted by another process: err = %v, want not found at once", err)
	}
	if _, err := c.GetManifest(ctx, r.ID, ds[0], true); !errdefs.IsNotFound(err) {
		t.Errorf("manifest deleted by another process (bytes still cached): err = %v, want not found at once", err)
	}
}
