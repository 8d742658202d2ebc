package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scanner"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// newScanEnv is newCLIEnv whose admin API also has the real scanner
// service (without workers: a scan asked for stays queued), and team/api:v1
// stored straight in the metadata store. It returns the image's digest.
func newScanEnv(t *testing.T) (*cliEnv, digest.Digest) {
	t.Helper()
	e := newCLIEnv(t)
	s := e.srv
	blobs, err := filesystem.New(filepath.Join(t.TempDir(), "blobs"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := scanner.New(scanner.Config{Store: s.Store, Registry: registry.New(s.Store, blobs, registry.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = s.WithScanner(t, svc)

	ctx := t.Context()
	repo, err := s.Store.EnsureRepository(ctx, "team/api")
	if err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	m := &meta.Manifest{RepositoryID: repo.ID, Digest: digest.FromBytes(content), Content: content,
		MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(content)), PushedAt: admintest.Epoch}
	if err := s.Store.PutManifest(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.PutTag(ctx, repo.ID, "v1", m.Digest); err != nil {
		t.Fatal(err)
	}
	return e, m.Digest
}

func TestScanCommands(t *testing.T) {
	e, dgst := newScanEnv(t)
	e.login(t, "bob", "bob-password")
	image := "team/api@" + string(dgst)

	var rep wire.ScanReport
	if err := json.Unmarshal([]byte(mustRun(t, "vulns", "team/api:v1", "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Image != image || rep.Status != "not_scanned" || rep.Summary.Worst != "NONE" || rep.Vulnerabilities == nil {
		t.Errorf("vulns -o json of an unscanned image: %+v", rep)
	}
	if out := mustRun(t, "vulns", "team/api:v1"); !strings.HasPrefix(out, image+": not scanned\n") {
		t.Errorf("vulns table of an unscanned image:\n%s", out)
	}
	if code, _, errOut := runIn(t, "", "vulns", "team/api:v1", "--fail-on", "high"); code != 1 || !strings.Contains(errOut, "no finished scan") {
		t.Errorf("--fail-on without a scan: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runIn(t, "", "sbom", "team/api:v1"); code != 1 || !strings.Contains(errOut, "has not been scanned") {
		t.Errorf("sbom before a scan: exit %d, stderr %q", code, errOut)
	}
	// bob is a guest: he may read but not ask for a scan.
	if code, _, errOut := runIn(t, "", "scan", "team/api:v1"); code != 1 || !strings.Contains(errOut, "push") {
		t.Errorf("scan as guest: exit %d, stderr %q", code, errOut)
	}

	e.login(t, "alice", "alice-password")
	if out := mustRun(t, "scan", "team/api:v1"); out != image+": queued\n" {
		t.Errorf("scan printed %q", out)
	}
	// No scanner runs here, so waiting runs out.
	if code, _, errOut := runIn(t, "", "scan", image, "--wait", "10ms"); code != 1 || !strings.Contains(errOut, "did not end within 10ms") {
		t.Errorf("scan --wait: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runIn(t, "", "vulns", "team/nope:v1"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("vulns of a missing image: exit %d, stderr %q", code, errOut)
	}
}

func TestScanPolicyCommands(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "alice", "alice-password")
	golden(t, "scan_policy_default.golden", mustRun(t, "scan-policy", "get", "team"))

	var p wire.ScanPolicy
	out := mustRun(t, "scan-policy", "set", "team", "--block-severity", "high", "--unscanned", "wait", "--wait-seconds", "60", "-o", "json")
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	want := wire.ScanPolicy{Project: "team", BlockSeverity: "HIGH", Unscanned: "wait", WaitSeconds: 60,
		UpdatedAt: p.UpdatedAt, UpdatedBy: "alice"}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
	// Flags not given keep their value; leaving wait drops the wait.
	out = mustRun(t, "scan-policy", "set", "team", "--scan-on-push=false", "--unscanned", "deny", "-o", "json")
	p = wire.ScanPolicy{}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if p.ScanOnPush || p.BlockSeverity != "HIGH" || p.Unscanned != "deny" || p.WaitSeconds != 0 {
		t.Errorf("policy after a partial set: %+v", p)
	}
	if code, _, errOut := runIn(t, "", "scan-policy", "set", "team", "--wait-seconds", "5"); code != 1 || !strings.Contains(errOut, "wait_seconds") {
		t.Errorf("wait seconds without wait: exit %d, stderr %q", code, errOut)
	}
	e.login(t, "bob", "bob-password")
	if code, _, errOut := runIn(t, "", "scan-policy", "set", "team", "--block-severity", "LOW"); code != 1 || !strings.Contains(errOut, "manage-policies") {
		t.Errorf("set as guest: exit %d, stderr %q", code, errOut)
	}
}

func TestAllowlistCommands(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "alice", "alice-password")
	mustRun(t, "allowlist", "add", "--project", "team", "CVE-2024-0001", "--reason", "not reachable", "--expires", "2099-12-31")
	mustRun(t, "allowlist", "add", "--project", "team", "GHSA-aaaa", "--reason", "test only")
	golden(t, "allowlist_list.golden", mustRun(t, "allowlist", "list", "--project", "team"))

	var entries []wire.AllowlistEntry
	if err := json.Unmarshal([]byte(mustRun(t, "allowlist", "list", "--project", "team", "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].ExpiresAt != "2099-12-31T00:00:00Z" || entries[1].ExpiresAt != "" {
		t.Errorf("entries %+v", entries)
	}
	if out := mustRun(t, "allowlist", "remove", "--project", "team", "GHSA-aaaa"); out != "Removed GHSA-aaaa from the allowlist of project team\n" {
		t.Errorf("remove printed %q", out)
	}
	if code, _, errOut := runIn(t, "", "allowlist", "add", "CVE-1", "--reason", "x"); code != 1 || !strings.Contains(errOut, "system administrator") {
		t.Errorf("system entry as alice: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runIn(t, "", "allowlist", "add", "--project", "team", "CVE-1", "--reason", "x", "--expires", "2001-01-01"); code != 1 || !strings.Contains(errOut, "not in the future") {
		t.Errorf("expired entry: exit %d, stderr %q", code, errOut)
	}
	e.login(t, "admin", admintest.AdminPassword)
	mustRun(t, "allowlist", "add", "CVE-2023-4863", "--reason", "no webp")
	if out := mustRun(t, "allowlist", "list"); !strings.Contains(out, "CVE-2023-4863") || strings.Contains(out, "CVE-2024-0001") {
		t.Errorf("system list:\n%s", out)
	}
}

func TestScanUsageErrors(t *testing.T) {
	newCLIEnv(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"vulns bad severity", []string{"vulns", "team/api:v1", "--severity", "bad"}, `--severity "bad"`},
		{"vulns bad fail-on", []string{"vulns", "team/api:v1", "--fail-on", "UNKNOWN"}, `--fail-on "UNKNOWN"`},
		{"vulns bad output", []string{"vulns", "team/api:v1", "-o", "xml"}, `-o "xml"`},
		{"sbom bad format", []string{"sbom", "team/api:v1", "--format", "swid"}, `--format "swid"`},
		{"allowlist add without reason", []string{"allowlist", "add", "CVE-1"}, `"reason" not set`},
		{"allowlist bad expiry", []string{"allowlist", "add", "CVE-1", "--reason", "x", "--expires", "soon"}, `--expires "soon"`},
		{"scan without image", []string{"scan"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runIn(t, "", tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tt.want)
			}
		})
	}
}

func TestAllowlistExpiry(t *testing.T) {
	now := admintest.Epoch
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"never", time.Time{}},
		{"720h", now.Add(720 * time.Hour)},
		{"30d", now.Add(30 * 24 * time.Hour)},
		{"2026-12-31", time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
		{"2026-12-31T18:00:00+02:00", time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := allowlistExpiry(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("allowlistExpiry(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// scanFixture is a finished report with an allowlisted critical, a high,
// a low vulnerability and a secret.
func scanFixture() *wire.ScanReport {
	return &wire.ScanReport{
		Image: "team/api@sha256:abc", Repository: "team/api", Digest: "sha256:abc", Status: "done", Scanner: "berth/1",
		QueuedAt: "2026-11-01T12:00:00Z", FinishedAt: "2026-11-01T12:01:00Z", DataGeneration: 7,
		DataUpdatedAt: "2026-10-01T00:00:00Z", DataStale: true,
		Summary: wire.ScanSummary{Critical: 1, High: 1, Low: 1, Fixable: 2, Secrets: 1, Worst: "CRITICAL"},
		Vulnerabilities: []wire.Vulnerability{
			{ID: "CVE-2024-0001", Severity: "CRITICAL", CVSS: 9.8, Package: "openssl", Ecosystem: "Debian:12", Version: "3.0.1",
				FixedVersion: "3.0.2", Location: "var/lib/dpkg/status", Summary: "heap overflow", Allowlisted: true, AllowlistReason: "not reachable"},
			{ID: "GHSA-aaaa-bbbb-cccc", Severity: "HIGH", Package: "golang.org/x/net", Ecosystem: "Go", Version: "v0.1.0", FixedVersion: "v0.7.0",
				Location: "app/server", Summary: "a very long summary that goes on and on well past the width the table gives it"},
			{ID: "DSA-9", Severity: "LOW", Package: "zlib", Ecosystem: "Debian:12", Version: "1.2"},
		},
		Findings: []wire.ScanFinding{{Kind: "secret", Rule: "aws-access-key-id", Severity: "HIGH", Title: "AWS access key",
			Path: "app/.env", Line: 3, Fingerprint: "AKIA…#3f9a1c2b7d4e"}},
		Gate: &wire.GateVerdict{Allowed: false, Reason: "GHSA-aaaa-bbbb-cccc is HIGH"},
	}
}

func TestVulnRenderers(t *testing.T) {
	var buf bytes.Buffer
	if err := printVulns(&buf, "table", scanFixture()); err != nil {
		t.Fatal(err)
	}
	golden(t, "vulns_table.golden", buf.String())

	shown := scanFixture()
	shown.Vulnerabilities = filterVulns(shown.Vulnerabilities, vuln.SeverityHigh)
	buf.Reset()
	if err := printVulns(&buf, "sarif", shown); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string } `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				Level     string `json:"level"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatalf("sarif: %v\n%s", err, buf.String())
	}
	type res struct{ Rule, Level, URI string }
	var got []res
	for _, r := range log.Runs[0].Results {
		got = append(got, res{r.RuleID, r.Level, r.Locations[0].PhysicalLocation.ArtifactLocation.URI})
	}
	want := []res{{"CVE-2024-0001", "error", "var/lib/dpkg/status"}, {"GHSA-aaaa-bbbb-cccc", "error", "app/server"}}
	if diff := cmp.Diff(want, got); diff != "" || log.Version != "2.1.0" || len(log.Runs[0].Tool.Driver.Rules) != 2 {
		t.Errorf("sarif version %q, %d rules, results (-want +got):\n%s", log.Version, len(log.Runs[0].Tool.Driver.Rules), diff)
	}
}

func TestFailOn(t *testing.T) {
	tests := []struct {
		threshold vuln.Severity
		code      int // 0: no error
	}{
		{vuln.SeverityCritical, 0}, // the critical one is allowlisted
		{vuln.SeverityHigh, exitVulnerable},
		{vuln.SeverityLow, exitVulnerable},
	}
	for _, tt := range tests {
		t.Run(tt.threshold.String(), func(t *testing.T) {
			err := failOnCheck(scanFixture(), tt.threshold)
			var ee *exitError
			switch {
			case tt.code == 0 && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.code != 0 && (!errors.As(err, &ee) || ee.code != tt.code):
				t.Errorf("error %v, want exit %d", err, tt.code)
			}
		})
	}
	if code, _, _ := run(t, "vulns", "--help"); code != 0 {
		t.Errorf("vulns --help: exit %d", code)
	}
	if _, out, _ := run(t, "vulns", "--help"); !strings.Contains(out, "3 with --fail-on") {
		t.Errorf("vulns --help does not document exit code 3:\n%s", out)
	}
}
