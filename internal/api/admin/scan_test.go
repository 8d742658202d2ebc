package admin_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin"
	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scanner"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// fakeScanner stands in for the scanner service where a test needs a
// report the real one only makes after scanning an image with
// vulnerability data. Scanner is the admin package's own small interface,
// not a database or a client, so a fake is fair here; TestScanRoutesReal
// runs the same routes over the real service.
type fakeScanner struct {
	mu          sync.Mutex
	reports     map[string]*scanner.Report // by "repo:reference"
	scanned     []string
	invalidated []string
}

func (f *fakeScanner) report(repo, reference string) (*scanner.Report, error) {
	rep, ok := f.reports[repo+":"+reference]
	if !ok {
		return nil, errdefs.NotFound("%s:%s not found", repo, reference)
	}
	return rep, nil
}

func (f *fakeScanner) Scan(_ context.Context, repo, reference string) (*scanner.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rep, err := f.report(repo, reference)
	if err != nil {
		return nil, err
	}
	f.scanned = append(f.scanned, repo+":"+reference)
	return &scanner.Report{Repository: repo, Digest: rep.Digest, DataGeneration: 4,
		State: &meta.ScanReport{Digest: rep.Digest, Repository: repo, Status: meta.ScanQueued, QueuedAt: admintest.Epoch}}, nil
}

func (f *fakeScanner) Report(_ context.Context, repo, reference string) (*scanner.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.report(repo, reference)
}

func (f *fakeScanner) SBOM(_ context.Context, repo, reference, format string) ([]byte, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.report(repo, reference); err != nil {
		return nil, "", err
	}
	return []byte(`{"format":"` + format + `"}`), "application/vnd." + format + "+json", nil
}

func (f *fakeScanner) Invalidate(project string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated = append(f.invalidated, project)
}

// withScanner returns s served again with sc as the scanner.
func withScanner(t *testing.T, s *admintest.Server, sc admin.Scanner) *admintest.Server {
	t.Helper()
	return s.WithScanner(t, sc)
}

var (
	imageDigest = digest.FromString("team/api image")
	openDigest  = digest.FromString("open/web image")
)

// scannedReport is a finished report with one allowlisted vulnerability,
// one plain one and a secret.
func scannedReport() *scanner.Report {
	fin := admintest.Epoch.Add(time.Minute)
	return &scanner.Report{
		Repository: "team/api", Digest: imageDigest, DataGeneration: 9, DataUpdatedAt: admintest.Epoch, DataStale: true,
		State: &meta.ScanReport{Digest: imageDigest, Repository: "team/api", Status: meta.ScanDone, Scanner: scanner.BuiltinScanner,
			QueuedAt: admintest.Epoch, StartedAt: admintest.Epoch, FinishedAt: fin, Generation: 7,
			Summary: meta.ScanSummary{Critical: 1, High: 1, Fixable: 1, Secrets: 1, Worst: int(vuln.SeverityCritical)}},
		Result: &scanner.Result{
			Platforms: []scanner.Platform{{Manifest: string(imageDigest), Platform: "linux/amd64", OS: "debian 12", Packages: 80}},
			Vulnerabilities: []vuln.Finding{
				{ID: "CVE-2024-0001", Aliases: []string{"DSA-1"}, Severity: vuln.SeverityCritical, CVSS: 9.8, FixedVersion: "3.0.2",
					Summary: "heap overflow", Package: vuln.Package{Ecosystem: "Debian:12", Name: "openssl", Version: "3.0.1",
						PURL: "pkg:deb/debian/openssl@3.0.1", Location: "var/lib/dpkg/status"}},
				{ID: "GHSA-xxxx", Severity: vuln.SeverityHigh, Package: vuln.Package{Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.1.0"}},
			},
			Findings: []scan.Finding{{Kind: scan.KindSecret, Rule: "aws-access-key-id", Severity: vuln.SeverityHigh,
				Title: "AWS access key", Layer: "sha256:aa", Path: "app/.env", Line: 3, Fingerprint: "AKIA…#3f9a1c2b7d4e"}},
		},
		Allowlisted: map[string]string{"CVE-2024-0001": "not reachable"},
		Gate:        scanner.Verdict{Allowed: false, Reason: "GHSA-xxxx is HIGH"},
	}
}

func scanWorld(t *testing.T) (*admintest.Server, *fakeScanner) {
	t.Helper()
	fake := &fakeScanner{reports: map[string]*scanner.Report{
		"team/api:v1":  scannedReport(),
		"open/web:1.0": {Repository: "open/web", Digest: openDigest, DataGeneration: 9, Gate: scanner.Verdict{Allowed: true}},
	}}
	return withScanner(t, world(t), fake), fake
}

func TestScanRoutes(t *testing.T) {
	s, fake := scanWorld(t)
	wantDone := wire.ScanReport{
		Image: "team/api@" + string(imageDigest), Repository: "team/api", Digest: string(imageDigest), Status: "done",
		Scanner: "berth/1", QueuedAt: "2026-11-01T12:00:00Z", StartedAt: "2026-11-01T12:00:00Z", FinishedAt: "2026-11-01T12:01:00Z",
		DataGeneration: 7, DataUpdatedAt: "2026-11-01T12:00:00Z", DataStale: true,
		Summary:   wire.ScanSummary{Critical: 1, High: 1, Fixable: 1, Secrets: 1, Worst: "CRITICAL"},
		Platforms: []wire.ScanPlatform{{Manifest: string(imageDigest), Platform: "linux/amd64", OS: "debian 12", Packages: 80}},
		Vulnerabilities: []wire.Vulnerability{
			{ID: "CVE-2024-0001", Aliases: []string{"DSA-1"}, Severity: "CRITICAL", CVSS: 9.8, Package: "openssl", Ecosystem: "Debian:12",
				Version: "3.0.1", FixedVersion: "3.0.2", PURL: "pkg:deb/debian/openssl@3.0.1", Location: "var/lib/dpkg/status",
				Summary: "heap overflow", Allowlisted: true, AllowlistReason: "not reachable"},
			{ID: "GHSA-xxxx", Severity: "HIGH", Package: "golang.org/x/net", Ecosystem: "Go", Version: "v0.1.0"},
		},
		Findings: []wire.ScanFinding{{Kind: "secret", Rule: "aws-access-key-id", Severity: "HIGH", Title: "AWS access key",
			Layer: "sha256:aa", Path: "app/.env", Line: 3, Fingerprint: "AKIA…#3f9a1c2b7d4e"}},
		Gate: &wire.GateVerdict{Allowed: false, Reason: "GHSA-xxxx is HIGH"},
	}
	wantReport := func(want wire.ScanReport) func(t *testing.T, r response) {
		return func(t *testing.T, r response) {
			var got wire.ScanReport
			r.decodeInto(t, &got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		}
	}
	notScanned := wire.ScanReport{Image: "open/web@" + string(openDigest), Repository: "open/web", Digest: string(openDigest),
		Status: "not_scanned", DataGeneration: 9, Summary: wire.ScanSummary{Worst: "NONE"},
		Vulnerabilities: []wire.Vulnerability{}, Findings: []wire.ScanFinding{}, Gate: &wire.GateVerdict{Allowed: true}}
	queued := wire.ScanReport{Image: "team/api@" + string(imageDigest), Repository: "team/api", Digest: string(imageDigest),
		Status: "queued", QueuedAt: "2026-11-01T12:00:00Z", DataGeneration: 4, Summary: wire.ScanSummary{Worst: "NONE"},
		Vulnerabilities: []wire.Vulnerability{}, Findings: []wire.ScanFinding{}, Gate: &wire.GateVerdict{}}
	runOn(t, s, []step{
		{name: "report", as: bob, method: "GET", path: "/api/v1/scans?image=team/api:v1", status: 200, check: wantReport(wantDone)},
		{name: "report not scanned", as: carol, method: "GET", path: "/api/v1/scans?image=open/web:1.0", status: 200, check: wantReport(notScanned)},
		{name: "report hidden repository", as: carol, method: "GET", path: "/api/v1/scans?image=team/api:v1", status: 404, code: "NOT_FOUND"},
		{name: "report missing project", as: root, method: "GET", path: "/api/v1/scans?image=nope/api:v1", status: 404, code: "NOT_FOUND"},
		{name: "report unknown tag", as: alice, method: "GET", path: "/api/v1/scans?image=team/api:v2", status: 404, code: "NOT_FOUND"},
		{name: "report without image", as: alice, method: "GET", path: "/api/v1/scans", status: 400, code: "INVALID"},
		{name: "report bad image", as: alice, method: "GET", path: "/api/v1/scans?image=team/api", status: 400, code: "INVALID"},
		{name: "report anonymous", as: anon, method: "GET", path: "/api/v1/scans?image=open/web:1.0", status: 401, code: "UNAUTHORIZED"},

		{name: "scan", as: alice, method: "POST", path: "/api/v1/scans", body: wire.ScanRequest{Image: "team/api:v1"}, status: 202, check: wantReport(queued)},
		{name: "scan as guest", as: bob, method: "POST", path: "/api/v1/scans", body: wire.ScanRequest{Image: "team/api:v1"}, status: 403, code: "DENIED"},
		{name: "scan hidden repository", as: carol, method: "POST", path: "/api/v1/scans", body: wire.ScanRequest{Image: "team/api:v1"}, status: 404, code: "NOT_FOUND"},
		{name: "scan public without push", as: carol, method: "POST", path: "/api/v1/scans", body: wire.ScanRequest{Image: "open/web:1.0"}, status: 403, code: "DENIED"},
		{name: "scan missing project as admin", as: root, method: "POST", path: "/api/v1/scans", body: wire.ScanRequest{Image: "ghost/api:v1"}, status: 404, code: "NOT_FOUND"},
		{name: "scan unknown field", as: alice, method: "POST", path: "/api/v1/scans", body: `{"img":"team/api:v1"}`, status: 400, code: "INVALID"},

		{name: "sbom", as: bob, method: "GET", path: "/api/v1/sboms?image=team/api:v1&format=spdx", status: 200, check: func(t *testing.T, r response) {
			if ct := r.header.Get("Content-Type"); ct != "application/vnd.spdx+json" || string(r.body) != `{"format":"spdx"}` {
				t.Errorf("Content-Type %q, body %s", ct, r.body)
			}
		}},
		{name: "sbom default format", as: bob, method: "GET", path: "/api/v1/sboms?image=team/api:v1", status: 200, check: func(t *testing.T, r response) {
			if string(r.body) != `{"format":"cyclonedx"}` {
				t.Errorf("body %s", r.body)
			}
		}},
		{name: "sbom bad format", as: bob, method: "GET", path: "/api/v1/sboms?image=team/api:v1&format=swid", status: 400, code: "INVALID"},
		{name: "sbom hidden", as: carol, method: "GET", path: "/api/v1/sboms?image=team/api:v1", status: 404, code: "NOT_FOUND"},
	})
	if diff := cmp.Diff([]string{"team/api:v1"}, fake.scanned); diff != "" {
		t.Errorf("scans asked for (-want +got):\n%s", diff)
	}
	if _, err := s.Store.GetProject(t.Context(), "ghost"); !errdefs.IsNotFound(err) {
		t.Errorf("asking to scan in a missing project created it: %v", err)
	}
}

func TestScanRoutesWithoutScanner(t *testing.T) {
	run(t, []step{
		{name: "report", as: root, method: "GET", path: "/api/v1/scans?image=team/api:v1", status: 503, code: "UNAVAILABLE"},
		{name: "scan", as: root, method: "POST", path: "/api/v1/scans", body: wire.ScanRequest{Image: "team/api:v1"}, status: 503, code: "UNAVAILABLE"},
		{name: "sbom", as: root, method: "GET", path: "/api/v1/sboms?image=team/api:v1", status: 503, code: "UNAVAILABLE"},
		{name: "policy still works", as: alice, method: "GET", path: "/api/v1/projects/team/scan-policy", status: 200},
	})
}

// TestScanRoutesReal runs the scan routes over the real scanner service
// (no workers: a scan asked for stays queued).
func TestScanRoutesReal(t *testing.T) {
	s := world(t)
	blobs, err := filesystem.New(filepath.Join(t.TempDir(), "blobs"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := scanner.New(scanner.Config{Store: s.Store, Registry: registry.New(s.Store, blobs, registry.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	s = withScanner(t, s, svc)
	dgst := seedRetention(t, s)
	image := "team/api@" + string(dgst)
	runOn(t, s, []step{
		{name: "not scanned", as: bob, method: "GET", path: "/api/v1/scans?image=team/api:v1", status: 200, check: func(t *testing.T, r response) {
			var got wire.ScanReport
			r.decodeInto(t, &got)
			if got.Image != image || got.Status != "not_scanned" || got.Summary.Worst != "NONE" || got.Gate == nil || !got.Gate.Allowed {
				t.Errorf("report %+v", got)
			}
		}},
		{name: "sbom before a scan", as: bob, method: "GET", path: "/api/v1/sboms?image=team/api:v1", status: 404, code: "NOT_FOUND"},
		{name: "scan", as: alice, method: "POST", path: "/api/v1/scans", body: wire.ScanRequest{Image: image}, status: 202, check: func(t *testing.T, r response) {
			var got wire.ScanReport
			r.decodeInto(t, &got)
			if got.Status != "queued" || got.QueuedAt == "" {
				t.Errorf("report %+v", got)
			}
		}},
		{name: "queued", as: bob, method: "GET", path: "/api/v1/scans?image=" + image, status: 200, check: func(t *testing.T, r response) {
			var got wire.ScanReport
			r.decodeInto(t, &got)
			if got.Status != "queued" {
				t.Errorf("status %q", got.Status)
			}
		}},
		{name: "unknown tag", as: alice, method: "GET", path: "/api/v1/scans?image=team/api:nope", status: 404, code: "NOT_FOUND"},
	})
}

func TestScanPolicy(t *testing.T) {
	s, fake := scanWorld(t)
	policy := func(want wire.ScanPolicy) func(t *testing.T, r response) {
		return func(t *testing.T, r response) {
			var got wire.ScanPolicy
			r.decodeInto(t, &got)
			if want.UpdatedBy != "" {
				if _, err := wire.ParseTime(got.UpdatedAt); err != nil || got.UpdatedAt == "" {
					t.Errorf("updated_at %q: %v", got.UpdatedAt, err)
				}
				want.UpdatedAt = got.UpdatedAt
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("policy (-want +got):\n%s", diff)
			}
		}
	}
	gate := wire.ScanPolicy{ScanOnPush: true, BlockSeverity: "high", Unscanned: "wait", WaitSeconds: 30}
	put := func(name string, as caller, body any, status int, code string) step {
		return step{name: name, as: as, method: "PUT", path: "/api/v1/projects/team/scan-policy", body: body, status: status, code: code}
	}
	runOn(t, s, []step{
		{name: "default", as: bob, method: "GET", path: "/api/v1/projects/team/scan-policy", status: 200,
			check: policy(wire.ScanPolicy{Project: "team", BlockSeverity: "NONE", Unscanned: "allow"})},
		{name: "hidden", as: carol, method: "GET", path: "/api/v1/projects/team/scan-policy", status: 404, code: "NOT_FOUND"},
		{name: "public project", as: carol, method: "GET", path: "/api/v1/projects/open/scan-policy", status: 200},
		{name: "missing project", as: root, method: "GET", path: "/api/v1/projects/nope/scan-policy", status: 404, code: "NOT_FOUND"},
		{name: "set", as: alice, method: "PUT", path: "/api/v1/projects/team/scan-policy", body: gate, status: 200,
			check: policy(wire.ScanPolicy{Project: "team", ScanOnPush: true, BlockSeverity: "HIGH", Unscanned: "wait", WaitSeconds: 30, UpdatedBy: "alice"})},
		{name: "read back", as: bob, method: "GET", path: "/api/v1/projects/team/scan-policy", status: 200,
			check: policy(wire.ScanPolicy{Project: "team", ScanOnPush: true, BlockSeverity: "HIGH", Unscanned: "wait", WaitSeconds: 30, UpdatedBy: "alice"})},
		put("set as guest", bob, gate, 403, "DENIED"),
		put("set hidden", carol, gate, 404, "NOT_FOUND"),
		put("gate off", alice, wire.ScanPolicy{BlockSeverity: "", Unscanned: "deny"}, 200, ""),
		put("none", alice, wire.ScanPolicy{BlockSeverity: "NONE", Unscanned: "allow"}, 200, ""),
		put("unknown severity", alice, wire.ScanPolicy{BlockSeverity: "UNKNOWN", Unscanned: "allow"}, 400, "INVALID"),
		put("synonym severity", alice, wire.ScanPolicy{BlockSeverity: "moderate", Unscanned: "allow"}, 400, "INVALID"),
		put("no unscanned", alice, wire.ScanPolicy{BlockSeverity: "LOW"}, 400, "INVALID"),
		put("bad unscanned", alice, wire.ScanPolicy{Unscanned: "block"}, 400, "INVALID"),
		put("wait without wait", alice, wire.ScanPolicy{Unscanned: "deny", WaitSeconds: 5}, 400, "INVALID"),
		put("wait too long", alice, wire.ScanPolicy{Unscanned: "wait", WaitSeconds: 601}, 400, "INVALID"),
		put("wait negative", alice, wire.ScanPolicy{Unscanned: "wait", WaitSeconds: -1}, 400, "INVALID"),
		put("wait longest", alice, wire.ScanPolicy{Unscanned: "wait", WaitSeconds: 600}, 200, ""),
		put("other project in body", alice, wire.ScanPolicy{Project: "open", Unscanned: "allow"}, 400, "INVALID"),
		put("unknown field", alice, `{"unscanned":"allow","gate":true}`, 400, "INVALID"),
	})
	if diff := cmp.Diff([]string{"team", "team", "team", "team"}, fake.invalidated); diff != "" {
		t.Errorf("invalidated (-want +got):\n%s", diff)
	}
}

func allowlistIDs(l wire.AllowlistList) []string {
	var out []string
	for _, e := range l.Entries {
		s := e.Project + " " + e.ID + " " + e.Reason
		if e.Expired {
			s += " (expired)"
		}
		out = append(out, s)
	}
	return out
}

func TestAllowlist(t *testing.T) {
	s, fake := scanWorld(t)
	// An entry that expired since it was added; the API refuses to add
	// one that has.
	past := time.Now().Add(-time.Hour)
	if err := mustScanStore(t, s).PutAllowlistEntry(t.Context(), &meta.AllowlistEntry{VulnID: "CVE-2020-0001", Reason: "old", ExpiresAt: past}); err != nil {
		t.Fatal(err)
	}
	entry := wire.AllowlistEntry{ID: "CVE-2024-0001", Reason: "not reachable", ExpiresAt: "2099-01-01T00:00:00Z"}
	add := func(name string, as caller, path string, body any, status int, code string) step {
		return step{name: name, as: as, method: "POST", path: path, body: body, status: status, code: code}
	}
	const team, system = "/api/v1/projects/team/allowlist", "/api/v1/allowlist"
	runOn(t, s, []step{
		{name: "add", as: alice, method: "POST", path: team, body: entry, status: 201, check: func(t *testing.T, r response) {
			var got wire.AllowlistEntry
			r.decodeInto(t, &got)
			want := wire.AllowlistEntry{Project: "team", ID: "CVE-2024-0001", Reason: "not reachable", ExpiresAt: "2099-01-01T00:00:00Z",
				CreatedAt: got.CreatedAt, CreatedBy: "alice"}
			if diff := cmp.Diff(want, got); diff != "" || got.CreatedAt == "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			if loc := r.header.Get("Location"); loc != team+"/CVE-2024-0001" {
				t.Errorf("Location %q", loc)
			}
		}},
		add("add for ever", alice, team, wire.AllowlistEntry{ID: "GHSA-aaaa", Reason: "test image"}, 201, ""),
		add("add as guest", bob, team, entry, 403, "DENIED"),
		add("add hidden", carol, team, entry, 404, "NOT_FOUND"),
		add("add without reason", alice, team, wire.AllowlistEntry{ID: "CVE-1", Reason: "  "}, 400, "INVALID"),
		add("add without id", alice, team, wire.AllowlistEntry{Reason: "why"}, 400, "INVALID"),
		add("add id with slash", alice, team, wire.AllowlistEntry{ID: "CVE/1", Reason: "why"}, 400, "INVALID"),
		add("add expired", alice, team, wire.AllowlistEntry{ID: "CVE-1", Reason: "why", ExpiresAt: "2001-01-01T00:00:00Z"}, 400, "INVALID"),
		add("add bad expiry", alice, team, wire.AllowlistEntry{ID: "CVE-1", Reason: "why", ExpiresAt: "2099-01-01"}, 400, "INVALID"),
		add("add other project", alice, team, wire.AllowlistEntry{Project: "open", ID: "CVE-1", Reason: "why"}, 400, "INVALID"),
		{name: "list", as: bob, method: "GET", path: team, status: 200,
			check: wantNames(allowlistIDs, "team CVE-2024-0001 not reachable", "team GHSA-aaaa test image")},
		{name: "list hidden", as: carol, method: "GET", path: team, status: 404, code: "NOT_FOUND"},

		{name: "list system as user", as: carol, method: "GET", path: system, status: 200, check: wantNames(allowlistIDs, " CVE-2020-0001 old (expired)")},
		add("add system as user", alice, system, entry, 403, "DENIED"),
		add("add system", root, system, wire.AllowlistEntry{ID: "CVE-2023-4863", Reason: "no webp"}, 201, ""),
		{name: "list system", as: bob, method: "GET", path: system, status: 200,
			check: wantNames(allowlistIDs, " CVE-2020-0001 old (expired)", " CVE-2023-4863 no webp")},
		{name: "project list leaves system out", as: alice, method: "GET", path: team, status: 200,
			check: wantNames(allowlistIDs, "team CVE-2024-0001 not reachable", "team GHSA-aaaa test image")},

		{name: "remove system entry through project", as: alice, method: "DELETE", path: team + "/CVE-2023-4863", status: 404, code: "NOT_FOUND"},
		{name: "remove as guest", as: bob, method: "DELETE", path: team + "/CVE-2024-0001", status: 403, code: "DENIED"},
		{name: "remove", as: alice, method: "DELETE", path: team + "/CVE-2024-0001", status: 204},
		{name: "remove again", as: alice, method: "DELETE", path: team + "/CVE-2024-0001", status: 404, code: "NOT_FOUND"},
		{name: "remove system as user", as: alice, method: "DELETE", path: system + "/CVE-2023-4863", status: 403, code: "DENIED"},
		{name: "remove system", as: root, method: "DELETE", path: system + "/CVE-2023-4863", status: 204},
		{name: "list after", as: alice, method: "GET", path: team, status: 200, check: wantNames(allowlistIDs, "team GHSA-aaaa test image")},
	})
	if diff := cmp.Diff([]string{"team", "team", "", "team", ""}, fake.invalidated); diff != "" {
		t.Errorf("invalidated (-want +got):\n%s", diff)
	}
}

func mustScanStore(t *testing.T, s *admintest.Server) meta.ScanStore {
	t.Helper()
	ss, ok := meta.ScanOf(s.Store)
	if !ok {
		t.Fatal("the SQLite store keeps no scans")
	}
	return ss
}

func TestScanChangesAreAudited(t *testing.T) {
	s, _ := scanWorld(t)
	send(t, s, alice, "POST", "/api/v1/scans", wire.ScanRequest{Image: "team/api:v1"})
	send(t, s, bob, "POST", "/api/v1/scans", wire.ScanRequest{Image: "team/api:v1"})
	send(t, s, alice, "PUT", "/api/v1/projects/team/scan-policy", wire.ScanPolicy{BlockSeverity: "CRITICAL", Unscanned: "deny"})
	send(t, s, alice, "POST", "/api/v1/projects/team/allowlist", wire.AllowlistEntry{ID: "CVE-1", Reason: "why"})
	send(t, s, alice, "POST", "/api/v1/allowlist", wire.AllowlistEntry{ID: "CVE-2", Reason: "why"})
	send(t, s, alice, "DELETE", "/api/v1/projects/team/allowlist/CVE-1", nil)
	s.FlushAudit(t)
	events, err := s.Audit.List(t.Context(), meta.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	type ev struct{ Actor, Action, Project, Resource, Outcome, Detail string }
	var got []ev
	for _, e := range events {
		if strings.HasPrefix(e.Action, "scan") || strings.HasPrefix(e.Action, "allowlist") {
			detail := e.Detail
			if e.Outcome != "success" {
				detail = ""
			}
			got = append(got, ev{e.Actor, e.Action, e.Project, e.Resource, e.Outcome, detail})
		}
	}
	want := []ev{ // newest first
		{"alice", "allowlist.remove", "team", "allowlist/CVE-1", "success", ""},
		{"alice", "allowlist.add", "", "allowlist/CVE-2", "denied", ""},
		{"alice", "allowlist.add", "team", "allowlist/CVE-1", "success", "why"},
		{"alice", "scan-policy.set", "team", "scan-policy", "success", "scan on push false, block CRITICAL, unscanned deny (wait 0s)"},
		{"bob", "scan.request", "team", "scan/team/api:v1", "denied", ""},
		{"alice", "scan.request", "team", "scan/team/api@" + string(imageDigest), "success", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}
