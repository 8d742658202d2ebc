package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The service runs on the real stores (a SQLite file and a blob directory
// under t.TempDir) with a clock the test moves.

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a service and the stores under it.
type env struct {
	svc   *registry.Service
	meta  *sqlite.Store
	blobs *filesystem.Store
	clock *clock
}

const (
	testExpiry = time.Hour
	testLease  = 2 * time.Hour
)

// newEnv opens fresh stores and a service over them. edit may adjust the
// options (the clock, expiry and lease are already set).
func newEnv(t *testing.T, edit ...func(*registry.Options)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	m, err := sqlite.Open(ctx, filepath.Join(dir, "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := filesystem.New(filepath.Join(dir, "storage"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().UTC()}
	opts := registry.Options{UploadExpiry: testExpiry, BlobLease: testLease, Now: clk.Now}
	for _, e := range edit {
		e(&opts)
	}
	return &env{svc: registry.New(m, b, opts), meta: m, blobs: b, clock: clk}
}

// uploadIDs lists the uploads the blob store holds data for.
func (e *env) uploadIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	err := e.blobs.ListUploads(context.Background(), func(id string, _ time.Time) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	return ids
}

// putBlob stores data in repo and returns its digest.
func (e *env) putBlob(t *testing.T, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	if _, err := e.svc.PutBlob(context.Background(), repo, d, bytes.NewReader(data)); err != nil {
		t.Fatalf("put blob in %s: %v", repo, err)
	}
	return d
}

// manifestOf encodes an image manifest naming config and layers.
func manifestOf(t *testing.T, config []byte, layers ...[]byte) []byte {
	t.Helper()
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromBytes(l), Size: int64(len(l))})
	}
	return mustJSON(t, m)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
