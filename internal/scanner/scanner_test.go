package scanner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/postgres"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/pgtest"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan/layers/layertest"
	"github.com/berth-registry/berth/internal/scan/sbom"
	"github.com/berth-registry/berth/internal/scanner"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/berth-registry/berth/internal/vuln/osv"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

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

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a scanner over real stores: a SQLite file and a filesystem blob
// store, with the registry service pushing into them.
type env struct {
	store meta.Store
	reg   *registry.Service
	svc   *scanner.Service
	clock *clock
	scans meta.ScanStore
	vulns meta.VulnStore
	proj  *meta.Project
}

func newEnv(t *testing.T) *env { return newEnvOn(t, openSQLite(t)) }

// openSQLite opens a fresh SQLite store, closed when the test ends.
func openSQLite(t *testing.T) meta.Store {
	t.Helper()
	m, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// openPostgres opens a store on a fresh PostgreSQL database (skipped when
// the machine has no PostgreSQL, unless the test script requires it).
func openPostgres(t *testing.T) meta.Store {
	t.Helper()
	url := pgtest.NewDatabase(t)
	if err := postgres.Migrate(t.Context(), url, postgres.Options{}); err != nil {
		t.Fatal(err)
	}
	m, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMain(m *testing.M) { pgtest.Main(m) }

func newEnvOn(t *testing.T, m meta.Store) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	b, err := filesystem.New(filepath.Join(dir, "storage"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().UTC()}
	reg := registry.New(m, b, registry.Options{})
	svc, err := scanner.New(scanner.Config{
		Store: m, Registry: reg, PushSBOMs: true, ToolVersion: "test", Now: clk.Now, TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg.OnManifestPut(svc.OnPush)
	reg.OnManifestDelete(svc.OnDelete)
	p := &meta.Project{Name: "team"}
	if err := m.(meta.Projects).CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	scans, _ := meta.ScanOf(m)
	// Projects scan on push only when they ask to.
	if err := scans.PutScanPolicy(ctx, &meta.ScanPolicy{ProjectID: p.ID, ScanOnPush: true, Unscanned: "allow"}); err != nil {
		t.Fatal(err)
	}
	vulns, _ := meta.VulnOf(m)
	return &env{store: m, reg: reg, svc: svc, clock: clk, scans: scans, vulns: vulns, proj: p}
}

// importOSV imports the named hand-written records.
func (e *env) importOSV(t *testing.T, names ...string) {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("..", "vuln", "testdata", "handwritten", n+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := osv.Import(t.Context(), e.vulns, dir, osv.Options{}); err != nil {
		t.Fatalf("import %v: %v", names, err)
	}
}

// drain works queued scans until none is left.
func (e *env) drain(t *testing.T) int {
	t.Helper()
	total := 0
	for {
		n, err := e.svc.Work(t.Context(), 10)
		if err != nil {
			t.Fatalf("work: %v", err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// debianImage builds an image from this machine's own package database and
// os-release, plus a file holding a cloud access key, and pushes it to
// repo:tag.
func (e *env) debianImage(t *testing.T, repo, tag string, extra ...layertest.File) digest.Digest {
	t.Helper()
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Skipf("this machine has no dpkg database: %v", err)
	}
	osRelease, err := os.ReadFile("/etc/os-release")
	if err != nil {
		t.Skipf("this machine has no os-release: %v", err)
	}
	ls := layertest.NewStore(t)
	files := append([]layertest.File{
		{Path: "etc/os-release", Body: osRelease},
		{Path: "var/lib/dpkg/status", Body: status},
		{Path: "root/.aws/credentials", Body: []byte("[default]\naws_access_key_id = AKIAZ7Q3XW5RT2MPL4KD\n")},
	}, extra...)
	layer := ls.Layer(t, layertest.Gzip, files...)
	desc := ls.Image(t, v1.Image{}, layer)
	return e.push(t, ls, repo, tag, desc)
}

// push copies the image desc from ls into repo and tags it.
func (e *env) push(t *testing.T, ls *layertest.Store, repo, tag string, desc v1.Descriptor) digest.Digest {
	t.Helper()
	ctx := t.Context()
	read := func(d digest.Digest) []byte {
		rc, err := ls.Opener()(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	body := read(desc.Digest)
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if _, err := e.reg.PutBlob(ctx, repo, d.Digest, bytes.NewReader(read(d.Digest))); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.reg.PutManifest(ctx, registry.ManifestPut{Repository: repo, Reference: tag, ContentType: desc.MediaType, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return res.Digest
}

func (e *env) manifest(t *testing.T, repo string, d digest.Digest) *meta.Manifest {
	t.Helper()
	r, err := e.store.GetRepository(t.Context(), repo)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.store.GetManifest(t.Context(), r.ID, d, false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func vulnIDs(r *scanner.Result) []string {
	var ids []string
	for _, f := range r.Vulnerabilities {
		ids = append(ids, f.ID)
	}
	return ids
}

func hasID(r *scanner.Result, id string) bool {
	for _, f := range r.Vulnerabilities {
		if f.ID == id {
			return true
		}
	}
	return false
}

// TestScanOnPushRematchAndGate walks the whole life of a scan: a push
// queues it, a worker scans the layers (packages, a secret, hygiene),
// pushes SBOM referrers, new vulnerability data is re-matched without
// reading layers again, and the pull gate denies, allows with an
// allowlist entry and denies again once the entry expires.
func TestScanOnPushRematchAndGate(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(*testing.T) meta.Store
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(b.name, func(t *testing.T) { testScanLife(t, newEnvOn(t, b.open(t))) })
	}
}

func testScanLife(t *testing.T, e *env) {
	ctx := t.Context()
	e.importOSV(t, "BERTH-DSA-0003")
	dgst := e.debianImage(t, "team/app", "1.0")

	st, err := e.scans.GetScanReport(ctx, dgst, false)
	if err != nil || st.Status != meta.ScanQueued {
		t.Fatalf("after push: report %+v, %v; want queued", st, err)
	}
	if n := e.drain(t); n < 1 {
		t.Fatalf("worked %d scans", n)
	}
	rep, err := e.svc.Report(ctx, "team/app", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	if rep.State == nil || rep.State.Status != meta.ScanDone || rep.Result == nil {
		t.Fatalf("report after scan: %+v", rep.State)
	}
	if !hasID(rep.Result, "BERTH-DSA-0003") || hasID(rep.Result, "BERTH-DSA-0001") {
		t.Fatalf("vulnerabilities %v: want BERTH-DSA-0003 only of the imported", vulnIDs(rep.Result))
	}
	if len(rep.Result.Platforms) != 1 || !strings.Contains(strings.ToLower(rep.Result.Platforms[0].OS), "debian") || rep.Result.Platforms[0].Packages < 50 {
		t.Errorf("platforms %+v: want one Debian image with this machine's packages", rep.Result.Platforms)
	}
	var secret, noUser bool
	for _, f := range rep.Result.Findings {
		if f.Kind == "secret" && f.Path == "root/.aws/credentials" {
			secret = true
			if strings.Contains(f.Fingerprint, "Z7Q3XW5RT2MPL4KD") || strings.Contains(f.Title, "Z7Q3XW5RT2MPL4KD") {
				t.Errorf("secret finding shows the secret: %+v", f)
			}
		}
		if f.Kind == "hygiene" && f.Rule == "no-user" {
			noUser = true
		}
	}
	if !secret || !noUser {
		t.Errorf("findings %+v: want the AWS key and no-user", rep.Result.Findings)
	}
	if rep.State.Summary.Secrets < 1 || rep.State.Summary.Worst < int(vuln.SeverityHigh) {
		t.Errorf("summary %+v", rep.State.Summary)
	}

	// The SBOMs are referrers of the image, and the API serves the same
	// bytes.
	for _, mt := range []string{sbom.MediaTypeCycloneDX, sbom.MediaTypeSPDX} {
		refs, err := e.reg.Referrers(ctx, "team/app", dgst, mt)
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 1 {
			t.Fatalf("%s referrers: %+v, want one", mt, refs)
		}
		format := scanner.FormatCycloneDX
		if mt == sbom.MediaTypeSPDX {
			format = scanner.FormatSPDX
		}
		doc, gotType, err := e.svc.SBOM(ctx, "team/app", "1.0", format)
		if err != nil || gotType != mt {
			t.Fatalf("SBOM %s: %q, %v", format, gotType, err)
		}
		art := e.manifest(t, "team/app", refs[0].Digest)
		r, _ := e.store.GetRepository(ctx, "team/app")
		full, err := e.store.GetManifest(ctx, r.ID, art.Digest, true)
		if err != nil {
			t.Fatal(err)
		}
		var am v1.Manifest
		if err := json.Unmarshal(full.Content, &am); err != nil {
			t.Fatal(err)
		}
		if am.Layers[0].Digest != digest.FromBytes(doc) {
			t.Errorf("%s: the API's SBOM differs from the referrer's", format)
		}
		// An SBOM is not an image: it is not scanned, and the gate lets it
		// through.
		if scanner.Scannable(art) {
			t.Errorf("SBOM manifest counted as scannable")
		}
	}
	// A second scan of the same content pushes no new SBOM.
	if _, err := e.svc.Scan(ctx, "team/app", "1.0"); err != nil {
		t.Fatal(err)
	}
	e.drain(t)
	refs, _ := e.reg.Referrers(ctx, "team/app", dgst, "")
	if len(refs) != 2 {
		t.Errorf("after a rescan %d referrers, want the same 2", len(refs))
	}
	rep, _ = e.svc.Report(ctx, "team/app", "1.0")
	firstFinish := rep.State.FinishedAt

	// New data: the stored inventory is re-matched, no scan runs.
	e.importOSV(t, "BERTH-DSA-0001")
	stats, err := e.svc.Rematch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Reports != 1 || stats.Changed != 1 {
		t.Errorf("rematch %+v: want one report, changed", stats)
	}
	rep, _ = e.svc.Report(ctx, "team/app", "1.0")
	if !hasID(rep.Result, "BERTH-DSA-0001") {
		t.Fatalf("after re-match: %v, want BERTH-DSA-0001", vulnIDs(rep.Result))
	}
	if !rep.State.FinishedAt.Equal(firstFinish) || rep.State.Generation != stats.Generation {
		t.Errorf("re-match ran a scan (finished %v → %v) or kept generation %d (want %d)", firstFinish, rep.State.FinishedAt, rep.State.Generation, stats.Generation)
	}
	if n := e.drain(t); n != 0 {
		t.Errorf("re-match queued %d scans", n)
	}

	// The gate: HIGH and above is denied.
	m := e.manifest(t, "team/app", dgst)
	if err := e.svc.Gate(ctx, "team/app", m); err != nil {
		t.Fatalf("gate without a policy: %v", err)
	}
	if e.svc.GateFor(ctx, "team/app") != nil {
		t.Fatalf("GateFor without a blocking policy returned a check")
	}
	if err := e.scans.PutScanPolicy(ctx, &meta.ScanPolicy{ProjectID: e.proj.ID, ScanOnPush: true, BlockSeverity: int(vuln.SeverityHigh), Unscanned: "deny"}); err != nil {
		t.Fatal(err)
	}
	e.svc.Invalidate("team")
	check := e.svc.GateFor(ctx, "team/app")
	if check == nil || e.svc.GateFor(access.WithPrincipal(ctx, access.Principal{Kind: access.System}), "team/app") != nil {
		t.Fatalf("GateFor under a blocking policy: a check for users, none for Berth itself")
	}
	if err := check(m); !errdefs.IsDenied(err) {
		t.Fatalf("GateFor's check: %v", err)
	}
	err = e.svc.Gate(ctx, "team/app", m)
	if !errdefs.IsDenied(err) || !strings.Contains(err.Error(), "CVE-2099-0001") || !strings.Contains(err.Error(), "berth allowlist add") {
		t.Fatalf("gate: %v; want DENIED naming CVE-2099-0001 and the way to an exception", err)
	}
	// Berth's own principals are exempt.
	if err := e.svc.Gate(access.WithPrincipal(ctx, access.Principal{Kind: access.System, Name: "berth-scanner"}), "team/app", m); err != nil {
		t.Errorf("gate for the scanner: %v", err)
	}
	// Allowlisting both findings (one by its CVE alias, one system-wide).
	now := e.clock.Now()
	for _, a := range []meta.AllowlistEntry{
		{ProjectID: e.proj.ID, VulnID: "CVE-2099-0001", Reason: "not reachable", ExpiresAt: now.Add(time.Hour)},
		{ProjectID: 0, VulnID: "BERTH-DSA-0003", Reason: "local only"},
	} {
		if err := e.scans.PutAllowlistEntry(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	e.svc.Invalidate("team")
	if err := e.svc.Gate(ctx, "team/app", m); err != nil {
		t.Fatalf("gate with allowlist: %v", err)
	}
	rep, _ = e.svc.Report(ctx, "team/app", "1.0")
	if !rep.Gate.Allowed || rep.Allowlisted["BERTH-DSA-0001"] != "not reachable" {
		t.Errorf("report gate %+v, allowlisted %v", rep.Gate, rep.Allowlisted)
	}
	e.clock.Add(2 * time.Hour)
	if err := e.svc.Gate(ctx, "team/app", m); !errdefs.IsDenied(err) {
		t.Fatalf("gate after the entry expired: %v; want DENIED", err)
	}

	// An image not scanned yet: denied under "deny", let through under
	// "allow", and scanned while a pull waits under "wait".
	if err := e.scans.PutScanPolicy(ctx, &meta.ScanPolicy{ProjectID: e.proj.ID, ScanOnPush: false, BlockSeverity: int(vuln.SeverityCritical), Unscanned: "deny"}); err != nil {
		t.Fatal(err)
	}
	e.svc.Invalidate("team")
	other := e.debianImage(t, "team/other", "2.0", layertest.File{Path: "srv/marker", Body: []byte("other")})
	om := e.manifest(t, "team/other", other)
	if err := e.svc.Gate(ctx, "team/other", om); !errdefs.IsDenied(err) || !strings.Contains(err.Error(), "never been scanned") {
		t.Fatalf("gate of an unscanned image under deny: %v", err)
	}
	if err := e.scans.PutScanPolicy(ctx, &meta.ScanPolicy{ProjectID: e.proj.ID, BlockSeverity: int(vuln.SeverityCritical), Unscanned: "wait", WaitSeconds: 30}); err != nil {
		t.Fatal(err)
	}
	e.svc.Invalidate("team")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.svc.Run(runCtx) }()
	err = e.svc.Gate(ctx, "team/other", om)
	stop()
	<-done
	if err != nil {
		t.Fatalf("gate waiting for the scan: %v (no CRITICAL finding is imported, so the pull should pass)", err)
	}

	// Deleting the image deletes the SBOMs made of it, so the blobs they
	// share (the empty config) can go too.
	if err := e.reg.DeleteManifest(ctx, "team/app", dgst.String()); err != nil {
		t.Fatal(err)
	}
	if refs, err := e.reg.Referrers(ctx, "team/app", dgst, ""); err != nil || len(refs) != 0 {
		t.Fatalf("referrers of the deleted image: %+v, %v", refs, err)
	}
	if err := e.reg.DeleteBlob(ctx, "team/app", v1.DescriptorEmptyJSON.Digest); err != nil {
		t.Errorf("delete the empty config blob after its SBOMs went: %v", err)
	}
}

func TestScannable(t *testing.T) {
	tests := []struct {
		name string
		m    meta.Manifest
		want bool
	}{
		{"oci image", meta.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: v1.MediaTypeImageConfig}, true},
		{"docker image", meta.Manifest{MediaType: "application/vnd.docker.distribution.manifest.v2+json", ArtifactType: "application/vnd.docker.container.image.v1+json"}, true},
		{"oci index", meta.Manifest{MediaType: v1.MediaTypeImageIndex}, true},
		{"docker list", meta.Manifest{MediaType: "application/vnd.docker.distribution.manifest.list.v2+json"}, true},
		{"sbom", meta.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: sbom.MediaTypeCycloneDX}, false},
		{"helm chart", meta.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: "application/vnd.cncf.helm.config.v1+json"}, false},
		{"index artifact", meta.Manifest{MediaType: v1.MediaTypeImageIndex, ArtifactType: "application/vnd.example"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := scanner.Scannable(&tc.m); got != tc.want {
				t.Errorf("Scannable = %v, want %v", got, tc.want)
			}
		})
	}
}
