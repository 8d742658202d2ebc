package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// replicaCase is the state the subtests of TestReplicas share: three
// replicas on one database and one bucket. Each subtest works in
// repositories of its own, so they run in parallel.
type replicaCase struct {
	c *scaleOut
	// repos collects the repositories the subtests create, for the final
	// catalog check.
	repos chan string
}

// TestReplicas runs three replicas on one PostgreSQL database and one S3
// bucket, started at the same time on an empty database, and checks that
// any replica serves what another stored: pushes and pulls across
// replicas, one upload spread over all three, racing pushes of one tag,
// cache invalidation through the database's change feed, and the OCI
// conformance program through a round-robin proxy. The replicas trust a
// cached answer for an hour (BERTH_CACHE_TTL=1h), so only the change feed
// can explain a replica noticing another one's write.
func TestReplicas(t *testing.T) {
	berthBinary(t)
	t.Parallel()
	rc := &replicaCase{c: newScaleOut(t, 3, "BERTH_CACHE_TTL=1h"), repos: make(chan string, 64)}
	t.Run("migrated once", rc.migratedOnce)
	t.Run("cache invalidation", rc.cacheInvalidation)
	t.Run("read after write across replicas", rc.readAfterWrite)
	t.Run("scenarios", func(t *testing.T) {
		t.Run("push and pull", rc.pushPull)
		t.Run("upload across replicas", rc.uploadAcross)
		t.Run("same tag race", rc.sameTagRace)
		t.Run("conformance through proxy", rc.conformance)
		t.Run("conformance through proxy, cache off", conformanceCacheOff)
	})
	t.Run("catalog agrees", rc.catalogAgrees)
}

// migratedOnce checks that the replicas that started together left the
// database at the newest schema, each migration applied exactly once.
func (rc *replicaCase) migratedOnce(t *testing.T) {
	stdout, stderr, code := runBerth(t, rc.c.bin, nil, "migrate", "--status", "--metadata", rc.c.db)
	if code != 0 || !strings.Contains(stdout, "up to date") {
		t.Errorf("berth migrate --status after three replicas started: exit %d, want 0 and \"up to date\"\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var rows, versions int
	if err := rc.c.queryDB(t, []any{&rows, &versions}, `SELECT count(*), count(DISTINCT version_id) FROM goose_db_version`); err != nil {
		t.Fatal(err)
	}
	if rows != versions {
		t.Errorf("goose_db_version has %d rows for %d versions: a migration was applied more than once", rows, versions)
	}
}

// pushPull pushes an image with crane through replica 0 and pulls it with
// crane and over plain HTTP through replicas 1 and 2.
func (rc *replicaCase) pushPull(t *testing.T) {
	bin := berthtest.Tool(t, "crane")
	t.Parallel()
	ctx := context.Background()
	const repo = "replicas/app"
	rc.repos <- repo
	crane := client{env: newToolEnv(t), bin: bin, flags: []string{"--insecure"}}
	amd, arm := newImage(t, "replicas-amd64", linuxAmd64), newImage(t, "replicas-arm64", linuxArm64)
	dir := t.TempDir()
	writeLayout(t, dir, "v1", amd)
	crane.run(t, "push", dir, host(rc.c.replicas[0])+"/"+repo+":v1")
	pushImage(t, rc.c.reg(0), repo, "v2", arm)

	for i := 1; i < 3; i++ {
		out := filepath.Join(t.TempDir(), "pulled")
		crane.run(t, "pull", "--format", "oci", host(rc.c.replicas[i])+"/"+repo+":v1", out)
		checkImageLayout(t, out, amd)
		checkPulled(t, rc.c.reg(i), repo, amd)
		checkPulled(t, rc.c.reg(i), repo, arm)
		_, _, dgst, err := rc.c.reg(i).GetManifest(ctx, repo, "v2")
		if err != nil || dgst != arm.Manifest.Desc.Digest {
			t.Errorf("replica %d: %s:v2 = %s (%v), want %s", i, repo, dgst, err, arm.Manifest.Desc.Digest)
		}
	}
	for i, reg := range rc.c.regs() {
		tags, err := reg.Tags(ctx, repo)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if diff := cmp.Diff([]string{"v1", "v2"}, tags); diff != "" {
			t.Errorf("replica %d: tags of %s (-want +got):\n%s", i, repo, diff)
		}
		cat, err := reg.Catalog(ctx)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if !slices.Contains(cat, repo) {
			t.Errorf("replica %d: catalog %q lacks %s", i, cat, repo)
		}
	}
}

// uploadAcross runs one chunked upload over all three replicas: POST on
// replica 0, PATCHes alternating between replicas 1 and 2, status on 0,
// PUT on 2. The chunk sizes mix chunks under S3's 5 MiB part minimum
// (kept as tail objects) with larger ones (parts), so each replica resumes
// from state another wrote.
func (rc *replicaCase) uploadAcross(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const repo = "replicas/chunked" // blobs only: not in the catalog
	chunks := []int{6 << 20, 1 << 20, 5<<20 + 3, 300 << 10, 7 << 20, 2 << 20, 100 << 10}
	total := 0
	for _, n := range chunks {
		total += n
	}
	data := randomBytes(total, 42)
	regs := rc.c.regs()

	loc, err := regs[0].StartUpload(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	loc = pathOf(t, loc)
	off := 0
	for i, n := range chunks {
		r := 1 + i%2
		next, got, err := regs[r].PatchChunk(ctx, loc, int64(off), bytes.NewReader(data[off:off+n]), int64(n))
		if err != nil {
			t.Fatalf("chunk %d (%d bytes at %d) on replica %d: %v", i, n, off, r, err)
		}
		off += n
		if got != int64(off) {
			t.Fatalf("chunk %d on replica %d: registry holds %d bytes, want %d", i, r, got, off)
		}
		loc = pathOf(t, next)
		status, err := regs[0].UploadStatus(ctx, loc)
		if err != nil || status != int64(off) {
			t.Fatalf("status on replica 0 after chunk %d: %d bytes (%v), want %d", i, status, err, off)
		}
	}
	dgst := digest.FromBytes(data)
	if err := regs[2].CompleteUpload(ctx, loc, dgst); err != nil {
		t.Fatalf("PUT on replica 2: %v", err)
	}
	for i, reg := range regs {
		got, err := reg.GetBlob(ctx, repo, dgst)
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
			continue
		}
		checkBytes(t, fmt.Sprintf("replica %d: blob", i), got, data)
		if _, err := reg.UploadStatus(ctx, loc); !berthtest.IsStatus(err, 404) {
			t.Errorf("replica %d: status of the completed upload: %v, want 404", i, err)
		}
	}
}

// catalogAgrees checks, once every scenario is done, that all replicas
// list the same catalog and that it holds every repository the scenarios
// pushed to.
func (rc *replicaCase) catalogAgrees(t *testing.T) {
	ctx := context.Background()
	close(rc.repos)
	var want []string
	for r := range rc.repos {
		want = append(want, r)
	}
	var first []string
	for i, reg := range rc.c.regs() {
		cat, err := reg.Catalog(ctx)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		for _, r := range want {
			if !slices.Contains(cat, r) {
				t.Errorf("replica %d: catalog lacks %s", i, r)
			}
		}
		if i == 0 {
			first = cat
		} else if diff := cmp.Diff(first, cat); diff != "" {
			t.Errorf("catalog of replica %d differs from replica 0's (-0 +%d):\n%s", i, i, diff)
		}
	}
}

// conformance runs the OCI conformance program through a proxy that sends
// each request to the next replica, so every multi-request operation (an
// upload, a push then a pull, a delete then a check) spans replicas.
func (rc *replicaCase) conformance(t *testing.T) {
	tool := berthtest.Tool(t, "conformance")
	t.Parallel()
	conformanceThroughProxy(t, tool, rc.c.replicas, "replicas-conformance")
}

// conformanceCacheOff runs the conformance program through a round-robin
// proxy in front of three replicas of their own whose cache is off: what
// the replicas share (database, bucket, upload sessions) must pass it
// without a cache.
func conformanceCacheOff(t *testing.T) {
	tool := berthtest.Tool(t, "conformance")
	t.Parallel()
	c := newScaleOut(t, 3, "BERTH_CACHE_MANIFEST_BYTES=0")
	conformanceThroughProxy(t, tool, c.replicas, "replicas-nocache")
}

// conformanceThroughProxy runs the conformance program through a
// round-robin proxy in front of procs.
func conformanceThroughProxy(t *testing.T, tool string, procs []*berthtest.Process, prefix string) {
	t.Helper()
	rr := newRoundRobin(t, procs)
	runConformance(t, tool, rr.process(), nil, prefix)
	if n := rr.rewritten.Load(); n > 0 {
		t.Logf("the proxy made %d Location headers relative", n)
	}
	for i, n := range rr.sent() {
		if n == 0 {
			t.Errorf("the proxy sent no request to replica %d", i)
		}
	}
}

// manifestFor returns an image manifest of config and layer whose
// annotations make it unique to key.
func manifestFor(config, layer content, key string) content {
	return newContent(v1.MediaTypeImageManifest, mustMarshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: config.Desc, Layers: []v1.Descriptor{layer.Desc},
		Annotations: map[string]string{"org.berth.test.key": key},
	}))
}
