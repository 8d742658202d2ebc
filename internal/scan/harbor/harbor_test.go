package harbor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/scan/harbor"
	"github.com/berth-registry/berth/internal/scan/harbor/harbortest"
	"github.com/berth-registry/berth/internal/vuln"
)

const (
	adapterAuth  = "Bearer adapter-s3cret"
	registryAuth = "Bearer registry-s3cret"
	imageDigest  = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
)

func request(dgst string) harbor.Request {
	return harbor.Request{
		Registry: harbor.Registry{URL: "http://127.0.0.1:5000", Authorization: registryAuth},
		Artifact: harbor.Artifact{Repository: "library/app", Digest: dgst, Tag: "1.0", MimeType: harbor.MediaTypeOCIManifest},
	}
}

func newClient(t *testing.T, a *harbortest.Adapter, opts harbor.Options) *harbor.Client {
	t.Helper()
	if opts.Authorization == "" {
		opts.Authorization = adapterAuth
	}
	c, err := harbor.New(a.URL, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// checkErr fails unless err is of class want (nil: no error) and its
// message contains msg.
func checkErr(t *testing.T, err, want error, msg string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want class %v", err, want)
	case err != nil && !strings.Contains(err.Error(), msg):
		t.Fatalf("error %q does not say %q", err, msg)
	}
}

func TestNew(t *testing.T) {
	a := harbortest.NewAdapter(t, harbortest.Options{})
	tests := []struct {
		name, url string
		wantErr   error
	}{
		{"base", a.URL, nil},
		{"with api prefix", a.URL + "/api/v1/", nil},
		{"no scheme", "127.0.0.1:8080", errdefs.ErrInvalid},
		{"ftp", "ftp://127.0.0.1", errdefs.ErrInvalid},
		{"empty", "", errdefs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := harbor.New(tt.url, harbor.Options{})
			checkErr(t, err, tt.wantErr, "")
			if err != nil {
				return
			}
			if _, err := c.Metadata(t.Context()); err != nil {
				t.Fatalf("Metadata: %v", err)
			}
			reqs := a.Requests()
			if got := reqs[len(reqs)-1].Path; got != "/api/v1/metadata" {
				t.Errorf("path = %q, want /api/v1/metadata", got)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	images := []string{harbor.MediaTypeOCIManifest, harbor.MediaTypeDockerManifest}
	tests := []struct {
		name       string
		opts       harbortest.Options
		clientAuth string
		wantErr    error
		wantMsg    string
		wantName   string
		wantAccept string // the Accept of a later report poll
	}{
		{
			name:       "trivy",
			opts:       harbortest.Options{Authorization: adapterAuth},
			wantName:   "harbor:Trivy/0.50.1",
			wantAccept: harbor.MediaTypeVulnReport,
		},
		{
			name: "older adapter with the harbor report only",
			opts: harbortest.Options{
				Scanner: harbor.Scanner{Name: "Clair", Vendor: "CoreOS", Version: "4.7"},
				Capabilities: []harbor.Capability{{
					ConsumesMIMETypes: []string{harbor.MediaTypeDockerManifest},
					ProducesMIMETypes: []string{"application/vnd.scanner.adapter.vuln.report.harbor+json;version=1.0", "application/vnd.scanner.adapter.vuln.report.raw"},
				}},
			},
			wantName:   "harbor:Clair/4.7",
			wantAccept: harbor.MediaTypeVulnReportHarbor,
		},
		{
			name: "both reports prefers v1.1",
			opts: harbortest.Options{Capabilities: []harbor.Capability{
				{Type: "sbom", ConsumesMIMETypes: images, ProducesMIMETypes: []string{"application/vnd.security.sbom.report+json; version=1.0"}},
				{Type: "vulnerability", ConsumesMIMETypes: images, ProducesMIMETypes: []string{harbor.MediaTypeVulnReportHarbor, harbor.MediaTypeVulnReport}},
			}},
			wantName:   "harbor:Trivy/0.50.1",
			wantAccept: harbor.MediaTypeVulnReport,
		},
		{
			name: "sbom only",
			opts: harbortest.Options{Capabilities: []harbor.Capability{
				{Type: "sbom", ConsumesMIMETypes: images, ProducesMIMETypes: []string{"application/vnd.security.sbom.report+json; version=1.0"}},
			}},
			wantErr: errdefs.ErrUnsupported,
			wantMsg: "does not scan image manifests",
		},
		{
			name: "raw report only",
			opts: harbortest.Options{Capabilities: []harbor.Capability{
				{ConsumesMIMETypes: images, ProducesMIMETypes: []string{"application/vnd.scanner.adapter.vuln.report.raw"}},
			}},
			wantErr: errdefs.ErrUnsupported,
			wantMsg: "vuln.report.raw",
		},
		{
			name: "charts only",
			opts: harbortest.Options{Capabilities: []harbor.Capability{
				{ConsumesMIMETypes: []string{"application/vnd.cncf.helm.config.v1+json"}, ProducesMIMETypes: []string{harbor.MediaTypeVulnReport}},
			}},
			wantErr: errdefs.ErrUnsupported,
			wantMsg: "helm",
		},
		{
			name:       "bad authorization",
			opts:       harbortest.Options{Authorization: adapterAuth},
			clientAuth: "Bearer wrong",
			wantErr:    errdefs.ErrUnauthenticated,
			wantMsg:    "401",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := harbortest.NewAdapter(t, tt.opts)
			c := newClient(t, a, harbor.Options{Authorization: tt.clientAuth})
			md, err := c.Metadata(t.Context())
			if got := a.Requests()[0].Accept; got != harbor.MediaTypeMetadata {
				t.Errorf("metadata Accept = %q, want %q", got, harbor.MediaTypeMetadata)
			}
			checkErr(t, err, tt.wantErr, tt.wantMsg)
			if err != nil {
				return
			}
			if md.Name() != tt.wantName {
				t.Errorf("Name() = %q, want %q", md.Name(), tt.wantName)
			}
			if !md.Consumes(harbor.MediaTypeDockerManifest) {
				t.Errorf("Consumes(docker manifest) = false")
			}
			id, err := c.Scan(t.Context(), request(imageDigest))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if _, done, _, err := c.Report(t.Context(), id); err != nil || !done {
				t.Fatalf("Report = done %v, %v", done, err)
			}
			reqs := a.Requests()
			if got := reqs[len(reqs)-1].Accept; got != tt.wantAccept {
				t.Errorf("report Accept = %q, want %q", got, tt.wantAccept)
			}
		})
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		name     string
		req      harbor.Request
		fault    int // status FailScans sets, 0 for none
		auth     string
		wantErr  error
		wantMsg  string
		wantSent bool // whether a POST reached the adapter
	}{
		{name: "accepted", req: request(imageDigest), wantSent: true},
		{name: "missing digest", req: request(""), wantErr: errdefs.ErrInvalid, wantMsg: "artifact.digest"},
		{
			name:    "missing registry and media type",
			req:     harbor.Request{Artifact: harbor.Artifact{Repository: "r", Digest: imageDigest}},
			wantErr: errdefs.ErrInvalid, wantMsg: "registry.url, artifact.mime_type",
		},
		{
			name:    "422 from the adapter",
			req:     func() harbor.Request { r := request(imageDigest); r.Registry.URL = "registry.local"; return r }(),
			wantErr: errdefs.ErrInvalid, wantMsg: "422 Unprocessable Entity: invalid registry.url", wantSent: true,
		},
		{name: "400 from the adapter", req: request(imageDigest), fault: http.StatusBadRequest, wantErr: errdefs.ErrInvalid, wantMsg: "400 Bad Request: adapter says no", wantSent: true},
		{name: "500 from the adapter", req: request(imageDigest), fault: http.StatusInternalServerError, wantErr: errdefs.ErrUnavailable, wantMsg: "500 Internal Server Error: adapter says no", wantSent: true},
		{name: "501 from the adapter", req: request(imageDigest), fault: http.StatusNotImplemented, wantErr: errdefs.ErrUnsupported, wantMsg: "adapter says no", wantSent: true},
		{name: "bad authorization", req: request(imageDigest), auth: "Basic Zm9vOmJhcg==", wantErr: errdefs.ErrUnauthenticated, wantMsg: "invalid or missing authorization", wantSent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := harbortest.NewAdapter(t, harbortest.Options{Authorization: adapterAuth})
			if tt.fault != 0 {
				a.FailScans(tt.fault, "adapter says no")
			}
			c := newClient(t, a, harbor.Options{Authorization: tt.auth})
			id, err := c.Scan(t.Context(), tt.req)
			checkErr(t, err, tt.wantErr, tt.wantMsg)
			reqs := a.Requests()
			if sent := len(reqs) > 0; sent != tt.wantSent {
				t.Fatalf("request sent = %v, want %v", sent, tt.wantSent)
			}
			if err != nil {
				return
			}
			if id == "" {
				t.Fatal("empty scan id")
			}
			got := reqs[0]
			want := harbortest.Request{
				Method: "POST", Path: "/api/v1/scan",
				Accept: harbor.MediaTypeScanResponse, ContentType: harbor.MediaTypeScanRequest, Authorization: adapterAuth,
				Scan: &tt.req,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("adapter got (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]harbor.Request{tt.req}, a.Scans()); diff != "" {
				t.Errorf("Scans() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReport(t *testing.T) {
	canned := &harbor.Report{
		Severity: "High",
		Vulnerabilities: []harbor.Vulnerability{
			{ID: "CVE-2023-0001", Package: "openssl", Version: "3.0.1", FixVersion: "3.0.2", Severity: "High"},
		},
	}
	tests := []struct {
		name         string
		opts         harbortest.Options
		httpClient   *http.Client
		failure      string
		id           string // "" means the id Scan returned
		wantDone     bool
		wantAfter    time.Duration
		wantErr      error
		wantMsg      string
		wantVulnerab int
	}{
		{name: "done", wantDone: true, wantVulnerab: 1},
		{name: "pending with Refresh-After", opts: harbortest.Options{Pending: 1, RefreshAfter: "2"}, wantAfter: 2 * time.Second},
		{name: "pending without Refresh-After", opts: harbortest.Options{Pending: 1}, wantAfter: 7 * time.Second},
		{
			name: "pending with a client that follows redirects", opts: harbortest.Options{Pending: 1, RefreshAfter: "3"},
			httpClient: &http.Client{}, wantAfter: 3 * time.Second,
		},
		{name: "failed", failure: "pull image: manifest unknown", wantErr: harbor.ErrScanFailed, wantMsg: "scan failed: pull image: manifest unknown"},
		{name: "unknown id", id: "nope", wantErr: errdefs.ErrNotFound, wantMsg: "cannot find scan job: nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Authorization = adapterAuth
			a := harbortest.NewAdapter(t, tt.opts)
			a.SetReport(imageDigest, canned)
			if tt.failure != "" {
				a.SetFailure(imageDigest, tt.failure)
			}
			c := newClient(t, a, harbor.Options{HTTPClient: tt.httpClient, DefaultPoll: 7 * time.Second})
			id, err := c.Scan(t.Context(), request(imageDigest))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if tt.id != "" {
				id = tt.id
			}
			r, done, after, err := c.Report(t.Context(), id)
			checkErr(t, err, tt.wantErr, tt.wantMsg)
			if tt.wantErr == harbor.ErrScanFailed && !errdefs.IsUnavailable(err) {
				t.Errorf("failed scan error %v is not of class unavailable", err)
			}
			if done != tt.wantDone || after != tt.wantAfter {
				t.Errorf("done, retryAfter = %v, %v; want %v, %v", done, after, tt.wantDone, tt.wantAfter)
			}
			if got := a.Polls(id); tt.id == "" && got != 1 {
				t.Errorf("adapter saw %d polls, want 1", got)
			}
			if !done {
				return
			}
			want := harbor.Report{
				GeneratedAt:     time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
				Artifact:        request(imageDigest).Artifact,
				Scanner:         harbor.Scanner{Name: "Trivy", Vendor: "Aqua Security", Version: "0.50.1"},
				Severity:        "High",
				Vulnerabilities: canned.Vulnerabilities,
			}
			if diff := cmp.Diff(&want, r); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

// sleeps records the waits Wait asks for without waiting.
type sleeps struct{ got []time.Duration }

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.got = append(s.got, d)
	return nil
}

func TestWaitHonoursRefreshAfter(t *testing.T) {
	tests := []struct {
		name         string
		pending      int
		refreshAfter string
		failure      string
		wantSleeps   []time.Duration
		wantErr      error
	}{
		{name: "done at once", wantSleeps: nil},
		{name: "refresh after 2s", pending: 3, refreshAfter: "2", wantSleeps: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}},
		{name: "too long is cut to MaxPoll", pending: 2, refreshAfter: "120", wantSleeps: []time.Duration{30 * time.Second, 30 * time.Second}},
		{name: "zero is raised to MinPoll", pending: 1, refreshAfter: "0", wantSleeps: []time.Duration{time.Second}},
		{name: "none means DefaultPoll", pending: 2, wantSleeps: []time.Duration{5 * time.Second, 5 * time.Second}},
		{name: "junk means DefaultPoll", pending: 1, refreshAfter: "soon", wantSleeps: []time.Duration{5 * time.Second}},
		{name: "failure after polls", pending: 2, refreshAfter: "3", failure: "boom", wantSleeps: []time.Duration{3 * time.Second, 3 * time.Second}, wantErr: harbor.ErrScanFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := harbortest.NewAdapter(t, harbortest.Options{Pending: tt.pending, RefreshAfter: tt.refreshAfter})
			if tt.failure != "" {
				a.SetFailure(imageDigest, tt.failure)
			}
			c := newClient(t, a, harbor.Options{})
			var s sleeps
			harbor.SetSleep(c, s.sleep)
			id, err := c.Scan(t.Context(), request(imageDigest))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			r, err := c.Wait(t.Context(), id, time.Hour)
			checkErr(t, err, tt.wantErr, "")
			if tt.wantErr == nil && r == nil {
				t.Fatal("Wait returned no report")
			}
			if diff := cmp.Diff(tt.wantSleeps, s.got); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if got, want := a.Polls(id), tt.pending+1; got != want {
				t.Errorf("adapter saw %d polls, want %d", got, want)
			}
		})
	}
}

func TestWaitStops(t *testing.T) {
	tests := []struct {
		name    string
		maxWait time.Duration
		sleep   func(cancel context.CancelFunc) func(context.Context, time.Duration) error
		wantErr error
		notErr  error
	}{
		{
			name:    "maxWait passes",
			maxWait: time.Millisecond,
			sleep: func(context.CancelFunc) func(context.Context, time.Duration) error {
				return func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() }
			},
			wantErr: errdefs.ErrUnavailable,
			notErr:  context.DeadlineExceeded,
		},
		{
			name: "caller cancels",
			sleep: func(cancel context.CancelFunc) func(context.Context, time.Duration) error {
				return func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
			},
			wantErr: context.Canceled,
			notErr:  errdefs.ErrUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := harbortest.NewAdapter(t, harbortest.Options{Pending: 1 << 30, RefreshAfter: "1"})
			c := newClient(t, a, harbor.Options{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			harbor.SetSleep(c, tt.sleep(cancel))
			id, err := c.Scan(ctx, request(imageDigest))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			_, err = c.Wait(ctx, id, tt.maxWait)
			if !errors.Is(err, tt.wantErr) || errors.Is(err, tt.notErr) {
				t.Fatalf("Wait error = %v, want %v and not %v", err, tt.wantErr, tt.notErr)
			}
		})
	}
}

// TestWaitSleeps runs Wait with its real timer, bounded to a millisecond.
func TestWaitSleeps(t *testing.T) {
	a := harbortest.NewAdapter(t, harbortest.Options{Pending: 2, RefreshAfter: "1"})
	c := newClient(t, a, harbor.Options{MinPoll: time.Millisecond, MaxPoll: time.Millisecond})
	id, err := c.Scan(t.Context(), request(imageDigest))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	r, err := c.Wait(t.Context(), id, 0)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if r.Artifact.Digest != imageDigest {
		t.Errorf("report is about %q, want %q", r.Artifact.Digest, imageDigest)
	}
	if got := a.Polls(id); got != 3 {
		t.Errorf("adapter saw %d polls, want 3", got)
	}
}

func TestFindings(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name  string
		vulns string // the JSON of the vulnerabilities array
		want  []vuln.Finding
	}{
		{
			name:  "v1.2 with preferred cvss",
			vulns: `[{"id":"CVE-2017-8283","package":"dpkg","version":"1.17.27","fix_version":"1.18.0","severity":"Critical","description":"dpkg-source in dpkg 1.3.0 through 1.18.23 is able to use a non-GNU patch program\nand does not offer a protection mechanism","links":["https://security-tracker.debian.org/tracker/CVE-2017-8283"],"preferred_cvss":{"score_v3":9.8,"vector_v3":"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},"cwe_ids":["CWE-20"]}]`,
			want: []vuln.Finding{{
				ID: "CVE-2017-8283", Package: vuln.Package{Name: "dpkg", Version: "1.17.27"}, FixedVersion: "1.18.0",
				Severity: vuln.SeverityCritical, CVSS: 9.8,
				Summary: "dpkg-source in dpkg 1.3.0 through 1.18.23 is able to use a non-GNU patch program",
			}},
		},
		{
			name:  "trivy vendor attributes prefer nvd",
			vulns: `[{"id":"CVE-2023-1","package":"a","version":"1","severity":"High","vendor_attributes":{"CVSS":{"redhat":{"V3Score":8.1},"nvd":{"V3Score":7.5,"V3Vector":"CVSS:3.1/AV:N"}}}}]`,
			want:  []vuln.Finding{{ID: "CVE-2023-1", Package: vuln.Package{Name: "a", Version: "1"}, Severity: vuln.SeverityHigh, CVSS: 7.5}},
		},
		{
			name:  "trivy vendor attributes without nvd take the highest",
			vulns: `[{"id":"CVE-2023-2","package":"a","version":"1","severity":"Medium","vendor_attributes":{"CVSS":{"redhat":{"V3Score":5.5},"ghsa":{"V3Score":6.1}}}}]`,
			want:  []vuln.Finding{{ID: "CVE-2023-2", Package: vuln.Package{Name: "a", Version: "1"}, Severity: vuln.SeverityMedium, CVSS: 6.1}},
		},
		{
			name:  "v1.1 string score and negligible",
			vulns: `[{"id":"CVE-2023-3","package":"b","version":"2","severity":"Negligible","cve3_score":"3.2"},{"id":"CVE-2023-4","package":"b","version":"2","severity":"Low","cve3_score":2.1}]`,
			want: []vuln.Finding{
				{ID: "CVE-2023-3", Package: vuln.Package{Name: "b", Version: "2"}, Severity: vuln.SeverityLow, CVSS: 3.2},
				{ID: "CVE-2023-4", Package: vuln.Package{Name: "b", Version: "2"}, Severity: vuln.SeverityLow, CVSS: 2.1},
			},
		},
		{
			name:  "unknown severity falls back to the score",
			vulns: `[{"id":"CVE-2023-5","package":"c","version":"3","severity":"Unknown","preferred_cvss":{"score_v3":7.0,"score_v2":5.0}},{"id":"CVE-2023-6","package":"c","version":"3","severity":"Bogus"}]`,
			want: []vuln.Finding{
				{ID: "CVE-2023-5", Package: vuln.Package{Name: "c", Version: "3"}, Severity: vuln.SeverityHigh, CVSS: 7},
				{ID: "CVE-2023-6", Package: vuln.Package{Name: "c", Version: "3"}, Severity: vuln.SeverityUnknown},
			},
		},
		{
			name:  "non-CVE id gets CVE aliases from links",
			vulns: `[{"id":"GHSA-abcd-efgh-ijkl","package":"lodash","version":"4.17.15","severity":"High","links":["https://nvd.nist.gov/vuln/detail/cve-2020-8203","https://github.com/advisories/GHSA-abcd-efgh-ijkl","https://avd.aquasec.com/nvd/CVE-2020-8203","https://example.com/CVE-2019-10744"]}]`,
			want: []vuln.Finding{{
				ID: "GHSA-abcd-efgh-ijkl", Aliases: []string{"CVE-2019-10744", "CVE-2020-8203"},
				Package: vuln.Package{Name: "lodash", Version: "4.17.15"}, Severity: vuln.SeverityHigh,
			}},
		},
		{
			name:  "duplicates, empty ids and order",
			vulns: `[{"id":"CVE-2023-9","package":"z","version":"1","severity":"Low"},{"id":"","package":"z","version":"1","severity":"High"},{"id":"CVE-2023-8","package":"y","version":"1","severity":"Critical"},{"id":"CVE-2023-9","package":"z","version":"1","severity":"Low"},{"id":"CVE-2023-9","package":"a","version":"1","severity":"Low"}]`,
			want: []vuln.Finding{
				{ID: "CVE-2023-8", Package: vuln.Package{Name: "y", Version: "1"}, Severity: vuln.SeverityCritical},
				{ID: "CVE-2023-9", Package: vuln.Package{Name: "a", Version: "1"}, Severity: vuln.SeverityLow},
				{ID: "CVE-2023-9", Package: vuln.Package{Name: "z", Version: "1"}, Severity: vuln.SeverityLow},
			},
		},
		{
			name:  "long summary is cut",
			vulns: `[{"id":"CVE-2023-7","package":"d","version":"4","severity":"Medium","description":"\n\n  ` + long + `  \nsecond line"}]`,
			want: []vuln.Finding{{
				ID: "CVE-2023-7", Package: vuln.Package{Name: "d", Version: "4"}, Severity: vuln.SeverityMedium,
				Summary: strings.Repeat("x", 199) + "…",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r harbor.Report
			doc := fmt.Sprintf(`{"generated_at":"2026-11-22T12:00:00Z","severity":"High","vulnerabilities":%s}`, tt.vulns)
			if err := json.Unmarshal([]byte(doc), &r); err != nil {
				t.Fatalf("decode report: %v", err)
			}
			if diff := cmp.Diff(tt.want, r.Findings()); diff != "" {
				t.Errorf("Findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSecretsStayOut runs a whole scan with debug logging and checks that
// neither authorization value reaches the log or a printed request.
func TestSecretsStayOut(t *testing.T) {
	a := harbortest.NewAdapter(t, harbortest.Options{Authorization: adapterAuth, Pending: 1, RefreshAfter: "bad"})
	a.SetReport(imageDigest, &harbor.Report{Vulnerabilities: []harbor.Vulnerability{{ID: "CVE-2023-1", Package: "p", Version: "1", Severity: "Low"}}})
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, a, harbor.Options{Logger: log, MinPoll: time.Millisecond, MaxPoll: time.Millisecond})
	if _, err := c.Metadata(t.Context()); err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	req := request(imageDigest)
	id, err := c.Scan(t.Context(), req)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	r, err := c.Wait(t.Context(), id, 0)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if n := len(r.Findings()); n != 1 {
		t.Errorf("%d findings, want 1", n)
	}
	if got := a.Scans()[0].Registry.Authorization; got != registryAuth {
		t.Errorf("adapter got registry authorization %q, want %q", got, registryAuth)
	}
	printed := buf.String() + fmt.Sprint(req) + fmt.Sprintf("%+v", req)
	if !strings.Contains(buf.String(), "scan accepted") {
		t.Errorf("log lacks the scan:\n%s", buf.String())
	}
	for _, secret := range []string{"adapter-s3cret", "registry-s3cret"} {
		if strings.Contains(printed, secret) {
			t.Errorf("%q leaked:\n%s", secret, printed)
		}
	}
}
