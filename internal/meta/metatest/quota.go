package metatest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// RunQuota runs the conformance tests of meta.QuotaStore and
// meta.LinkPruner on fresh stores from newStore (as Run), which must have
// both abilities (directly or through meta.Unwrapper).
func RunQuota(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []test{
		{"PutGetDelete", testQuotaRoundTrip},
		{"ProjectDeleteTakesItsQuota", testQuotaCascade},
		{"LockInsideTx", testQuotaLockTx},
		{"LockSerializesChecks", testQuotaLockSerializes},
		{"UsageEmpty", testUsageEmpty},
		{"UsageSharedBlobsCountedOnce", testUsageSharedBlobs},
		{"UsageIndexChildren", testUsageIndex},
		{"UsageManifestInTwoRepositories", testUsageManifestTwoRepos},
		{"UsageAcrossProjects", testUsageAcrossProjects},
		{"ProjectHas", testProjectHas},
		{"StaleLinks", testStaleLinks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func quotaStore(t *testing.T, s meta.Store) meta.QuotaStore {
	t.Helper()
	qs, ok := meta.QuotaOf(s)
	if !ok {
		t.Fatalf("%T has no meta.QuotaStore", s)
	}
	return qs
}

func mustProject(t *testing.T, s meta.Store, name string) {
	t.Helper()
	if err := s.CreateProject(t.Context(), &meta.Project{Name: name}); err != nil {
		t.Fatalf("CreateProject(%q): %v", name, err)
	}
}

func usageOf(t *testing.T, q meta.QuotaQuerier, project string) meta.Usage {
	t.Helper()
	u, err := q.ProjectUsage(t.Context(), project)
	if err != nil {
		t.Fatalf("ProjectUsage(%q): %v", project, err)
	}
	return u
}

func testQuotaRoundTrip(t *testing.T, s meta.Store) {
	ctx := t.Context()
	qs := quotaStore(t, s)
	mustProject(t, s, "team")
	_, err := qs.GetQuota(ctx, "team")
	wantErr(t, "GetQuota before any", err, errdefs.ErrNotFound)
	wantErr(t, "PutQuota of a missing project", qs.PutQuota(ctx, &meta.Quota{Project: "nope", LimitBytes: 1}), errdefs.ErrNotFound)
	wantErr(t, "PutQuota negative", qs.PutQuota(ctx, &meta.Quota{Project: "team", LimitBytes: -1}), errdefs.ErrInvalid)

	q := &meta.Quota{Project: "team", LimitBytes: 100, WarnBytes: 80, ArtifactLimit: 3, UpdatedAt: at(time.Minute), UpdatedBy: "root"}
	if err := qs.PutQuota(ctx, q); err != nil {
		t.Fatal(err)
	}
	got, err := qs.GetQuota(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "quota", q, got)
	wantUTC(t, "UpdatedAt", got.UpdatedAt)

	// Replacing keeps one row with the new figures.
	q2 := &meta.Quota{Project: "team", LimitBytes: 200, UpdatedAt: at(2 * time.Minute)}
	if err := qs.PutQuota(ctx, q2); err != nil {
		t.Fatal(err)
	}
	if got, err = qs.GetQuota(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	diff(t, "replaced quota", q2, got)

	if err := qs.DeleteQuota(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteQuota twice", qs.DeleteQuota(ctx, "team"), errdefs.ErrNotFound)
	_, err = qs.GetQuota(ctx, "team")
	wantErr(t, "GetQuota after delete", err, errdefs.ErrNotFound)
}

func testQuotaCascade(t *testing.T, s meta.Store) {
	ctx := t.Context()
	qs := quotaStore(t, s)
	mustProject(t, s, "gone")
	if err := qs.PutQuota(ctx, &meta.Quota{Project: "gone", LimitBytes: 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProject(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	mustProject(t, s, "gone")
	_, err := qs.GetQuota(ctx, "gone")
	wantErr(t, "GetQuota of a re-created project", err, errdefs.ErrNotFound)
}

func testQuotaLockTx(t *testing.T, s meta.Store) {
	ctx := t.Context()
	qs := quotaStore(t, s)
	mustProject(t, s, "p")
	if err := qs.PutQuota(ctx, &meta.Quota{Project: "p", LimitBytes: 10}); err != nil {
		t.Fatal(err)
	}
	err := s.WithTx(ctx, func(tx meta.Querier) error {
		qq, ok := meta.QuotaTxOf(tx)
		if !ok {
			t.Fatalf("transaction querier %T has no meta.QuotaQuerier", tx)
		}
		q, err := qq.LockQuota(ctx, "p")
		if err != nil {
			return err
		}
		if q.LimitBytes != 10 {
			t.Errorf("LockQuota limit = %d, want 10", q.LimitBytes)
		}
		_, err = qq.LockQuota(ctx, "other")
		wantErr(t, "LockQuota without quota", err, errdefs.ErrNotFound)
		u := usageOf(t, qq, "p")
		diff(t, "usage in tx", meta.Usage{}, u)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testUsageEmpty(t *testing.T, s meta.Store) {
	diff(t, "usage of an unknown project", meta.Usage{}, usageOf(t, quotaStore(t, s), "none"))
}

// imageIn stores an image manifest of seed in repo, naming config and
// layers (already recorded), linking them first.
func imageIn(t *testing.T, s meta.Store, repo *meta.Repository, seed string, config digest.Digest, cfgSize int64, layers map[digest.Digest]int64) *meta.Manifest {
	t.Helper()
	ctx := context.Background()
	m := newManifest(repo.ID, seed)
	m.ConfigDigest = config
	refs := []meta.Reference{{Digest: config, Kind: meta.RefBlob, Size: cfgSize}}
	if err := s.LinkBlob(ctx, repo.ID, config); err != nil {
		t.Fatal(err)
	}
	for d, n := range layers {
		refs = append(refs, meta.Reference{Digest: d, Kind: meta.RefBlob, Size: n})
		if err := s.LinkBlob(ctx, repo.ID, d); err != nil {
			t.Fatal(err)
		}
	}
	mustPutManifest(t, s, m, refs...)
	return m
}

func testUsageSharedBlobs(t *testing.T, s meta.Store) {
	qs := quotaStore(t, s)
	a := mustRepo(t, s, "team/a")
	b := mustRepo(t, s, "team/sub/b")
	cfg1 := mustPutBlob(t, s, "cfg1", 10)
	cfg2 := mustPutBlob(t, s, "cfg2", 20)
	shared := mustPutBlob(t, s, "shared layer", 1000)
	only := mustPutBlob(t, s, "own layer", 300)
	m1 := imageIn(t, s, a, "one", cfg1, 10, map[digest.Digest]int64{shared: 1000})
	m2 := imageIn(t, s, b, "two", cfg2, 20, map[digest.Digest]int64{shared: 1000, only: 300})
	want := meta.Usage{
		StoredBytes:  10 + 20 + 1000 + 300 + m1.Size + m2.Size,
		LogicalBytes: m1.Size + 10 + 1000 + m2.Size + 20 + 1000 + 300,
		Artifacts:    2,
	}
	diff(t, "usage", want, usageOf(t, qs, "team"))
	// A linked blob no manifest names still counts as stored.
	extra := mustPutBlob(t, s, "uploaded only", 7)
	if err := s.LinkBlob(t.Context(), a.ID, extra); err != nil {
		t.Fatal(err)
	}
	want.StoredBytes += 7
	diff(t, "usage with an unreferenced link", want, usageOf(t, qs, "team"))
}

func testUsageIndex(t *testing.T, s meta.Store) {
	qs := quotaStore(t, s)
	r := mustRepo(t, s, "multi/arch")
	cfg := mustPutBlob(t, s, "cfg", 5)
	l1 := mustPutBlob(t, s, "amd64 layer", 100)
	l2 := mustPutBlob(t, s, "arm64 layer", 200)
	c1 := imageIn(t, s, r, "amd64", cfg, 5, map[digest.Digest]int64{l1: 100})
	c2 := imageIn(t, s, r, "arm64", cfg, 5, map[digest.Digest]int64{l2: 200})
	idx := newManifest(r.ID, "index")
	idx.MediaType, idx.ConfigDigest, idx.ArtifactType = "application/vnd.oci.image.index.v1+json", "", ""
	mustPutManifest(t, s, idx,
		meta.Reference{Digest: c1.Digest, Kind: meta.RefManifest, Size: c1.Size},
		meta.Reference{Digest: c2.Digest, Kind: meta.RefManifest, Size: c2.Size})
	want := meta.Usage{
		StoredBytes:  5 + 100 + 200 + c1.Size + c2.Size + idx.Size,
		LogicalBytes: c1.Size + 5 + 100 + c2.Size + 5 + 200 + idx.Size,
		Artifacts:    1,
	}
	diff(t, "usage with an index", want, usageOf(t, qs, "multi"))
}

func testUsageManifestTwoRepos(t *testing.T, s meta.Store) {
	qs := quotaStore(t, s)
	a := mustRepo(t, s, "p/a")
	b := mustRepo(t, s, "p/b")
	cfg := mustPutBlob(t, s, "cfg", 50)
	ma := imageIn(t, s, a, "same", cfg, 50, nil)
	mb := imageIn(t, s, b, "same", cfg, 50, nil)
	if ma.Digest != mb.Digest {
		t.Fatal("test setup: the two manifests differ")
	}
	want := meta.Usage{StoredBytes: 50 + ma.Size, LogicalBytes: 2 * (ma.Size + 50), Artifacts: 2}
	diff(t, "usage of one manifest in two repositories", want, usageOf(t, qs, "p"))
}

func testUsageAcrossProjects(t *testing.T, s meta.Store) {
	qs := quotaStore(t, s)
	// "app" must not take in "apple" or "app-x" (names sort around "app/").
	repos := map[string]*meta.Repository{}
	for _, n := range []string{"app", "app/web", "apple/web", "app-x", "ap"} {
		repos[n] = mustRepo(t, s, n)
	}
	layer := mustPutBlob(t, s, "shared across projects", 1000)
	cfg := mustPutBlob(t, s, "cfg", 1)
	root := imageIn(t, s, repos["app"], "root", cfg, 1, map[digest.Digest]int64{layer: 1000})
	web := imageIn(t, s, repos["app/web"], "web", cfg, 1, nil)
	apple := imageIn(t, s, repos["apple/web"], "apple", cfg, 1, map[digest.Digest]int64{layer: 1000})
	imageIn(t, s, repos["app-x"], "x", cfg, 1, map[digest.Digest]int64{layer: 1000})
	imageIn(t, s, repos["ap"], "ap", cfg, 1, nil)
	diff(t, "usage of app", meta.Usage{
		StoredBytes:  1000 + 1 + root.Size + web.Size,
		LogicalBytes: root.Size + 1 + 1000 + web.Size + 1,
		Artifacts:    2,
	}, usageOf(t, qs, "app"))
	diff(t, "usage of apple", meta.Usage{
		StoredBytes:  1000 + 1 + apple.Size,
		LogicalBytes: apple.Size + 1 + 1000,
		Artifacts:    1,
	}, usageOf(t, qs, "apple"))
}

func testProjectHas(t *testing.T, s meta.Store) {
	ctx := t.Context()
	qs := quotaStore(t, s)
	mustRepo(t, s, "own/repo")
	other := mustRepo(t, s, "owner/repo")
	cfg := mustPutBlob(t, s, "cfg", 1)
	m := imageIn(t, s, other, "m", cfg, 1, nil)
	for _, tc := range []struct {
		name    string
		project string
		blob    bool
		man     bool
	}{
		{"other project", "own", false, false},
		{"own project", "owner", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotB, err := qs.ProjectHasBlob(ctx, tc.project, cfg)
			if err != nil || gotB != tc.blob {
				t.Errorf("ProjectHasBlob = %v, %v; want %v", gotB, err, tc.blob)
			}
			gotM, err := qs.ProjectHasManifest(ctx, tc.project, m.Digest)
			if err != nil || gotM != tc.man {
				t.Errorf("ProjectHasManifest = %v, %v; want %v", gotM, err, tc.man)
			}
		})
	}
}

func testStaleLinks(t *testing.T, s meta.Store) {
	ctx := t.Context()
	lp, ok := meta.LinkPrunerOf(s)
	if !ok {
		t.Fatalf("%T has no meta.LinkPruner", s)
	}
	a := mustRepo(t, s, "p/a")
	b := mustRepo(t, s, "p/b")
	cfg := mustPutBlob(t, s, "cfg", 1)
	layer := mustPutBlob(t, s, "layer", 10)
	leased := mustPutBlob(t, s, "leased", 10)
	imageIn(t, s, a, "img", cfg, 1, map[digest.Digest]int64{layer: 10})
	// b links all three but references none; the leased one stays.
	for _, d := range []digest.Digest{cfg, layer, leased} {
		if err := s.LinkBlob(ctx, b.ID, d); err != nil {
			t.Fatal(err)
		}
	}
	now := at(time.Hour)
	if err := s.LeaseBlob(ctx, leased, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var stale []meta.BlobLink
	after := meta.BlobLink{}
	for {
		page, err := lp.StaleLinks(ctx, after, now, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		stale = append(stale, page...)
		after = page[len(page)-1]
	}
	want := []meta.BlobLink{{RepositoryID: b.ID, Digest: cfg}, {RepositoryID: b.ID, Digest: layer}}
	if cfg > layer {
		want[0], want[1] = want[1], want[0]
	}
	diff(t, "stale links", want, stale)

	// Between listing and deleting, a manifest of b comes to name layer:
	// that link is no longer stale and stays.
	imageIn(t, s, b, "late", cfg, 1, map[digest.Digest]int64{layer: 10})
	n, err := lp.DeleteStaleLinks(ctx, stale, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("DeleteStaleLinks deleted %d links that became used, want 0", n)
	}
	if err := s.DeleteManifest(ctx, b.ID, newManifest(b.ID, "late").Digest); err != nil {
		t.Fatal(err)
	}
	if n, err = lp.DeleteStaleLinks(ctx, stale, now); err != nil || n != 2 {
		t.Fatalf("DeleteStaleLinks = %d, %v; want 2", n, err)
	}
	missing, err := s.MissingLinks(ctx, b.ID, []digest.Digest{cfg, layer, leased})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "links of b after pruning", []digest.Digest{cfg, layer}, missing)
	if missing, err = s.MissingLinks(ctx, a.ID, []digest.Digest{cfg, layer}); err != nil || len(missing) != 0 {
		t.Errorf("links of a after pruning: missing %v, %v; want none", missing, err)
	}
}

// testQuotaLockSerializes: transactions that each lock the quota, read the
// usage and link a blob only if it fits must not both see room for it.
func testQuotaLockSerializes(t *testing.T, s meta.Store) {
	ctx := t.Context()
	qs := quotaStore(t, s)
	mustProject(t, s, "race")
	if err := qs.PutQuota(ctx, &meta.Quota{Project: "race", LimitBytes: 1000}); err != nil {
		t.Fatal(err)
	}
	repo := mustRepo(t, s, "race/r")
	const n = 3
	dgsts := make([]digest.Digest, n)
	for i := range n {
		dgsts[i] = mustPutBlob(t, s, fmt.Sprintf("racer %d", i), 600)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		linked int
		errs   []error
		// arrived counts transactions past their usage read; each waits
		// (a bounded while) for the others to get there too, so without a
		// working lock they all read the same usage. With one, only one
		// can be there: the wait ends by its bound and the result is the
		// same however long it was.
		arrived atomic.Int32
	)
	for i := range n {
		wg.Go(func() {
			err := s.WithTx(ctx, func(tx meta.Querier) error {
				qq, _ := meta.QuotaTxOf(tx)
				q, err := qq.LockQuota(ctx, "race")
				if err != nil {
					return err
				}
				u, err := qq.ProjectUsage(ctx, "race")
				if err != nil || u.StoredBytes+600 > q.LimitBytes {
					return err
				}
				arrived.Add(1)
				for deadline := time.Now().Add(200 * time.Millisecond); arrived.Load() < n && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				if err := tx.LinkBlob(ctx, repo.ID, dgsts[i]); err != nil {
					return err
				}
				mu.Lock()
				linked++
				mu.Unlock()
				return nil
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("transactions failed: %v", errs)
	}
	if u := usageOf(t, qs, "race"); u.StoredBytes != 600 || linked != 1 {
		t.Errorf("%d transactions linked a blob, usage %d bytes; want exactly one, 600 bytes", linked, u.StoredBytes)
	}
}
