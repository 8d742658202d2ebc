package scanner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/scan/harbor"
	"github.com/berth-registry/berth/internal/scan/harbor/harbortest"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// adminDo calls the admin API of srv as the admin.
func adminDo(t *testing.T, srv *berthtest.Server, method, path string, in, out any, want int) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(berthtest.AdminUser, berthtest.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHarborAdapter runs a server whose scanner is a Harbor pluggable
// scanner adapter (an implementation of the adapter API on loopback, as
// no Trivy adapter is installed here): a push is sent to the adapter with
// a pull token for just that repository, the adapter's findings become the
// report, the gate acts on them, and the adapter's own pulls are exempt.
func TestHarborAdapter(t *testing.T) {
	ad := harbortest.NewAdapter(t, harbortest.Options{
		Authorization: "Bearer adapter-secret", Pending: 1, RefreshAfter: "1",
		Scanner: harbor.Scanner{Name: "Trivy", Vendor: "Aqua Security", Version: "0.50.1"},
	})
	srv := berthtest.Start(t, func(c *config.Config) {
		c.Scan.Scanner = "harbor"
		c.Scan.HarborURL = ad.URL
		c.Scan.HarborAuth = "Bearer adapter-secret"
	})
	reg := srv.Registry()
	ctx := context.Background()
	adminDo(t, srv, "POST", "/api/v1/projects", wire.NewProject{Name: "team"}, nil, 201)
	adminDo(t, srv, "PUT", "/api/v1/projects/team/scan-policy", wire.ScanPolicy{ScanOnPush: true, Unscanned: "allow"}, nil, 200)

	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDgst, err := reg.PushBlob(ctx, "team/app", cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: cfgDgst, Size: int64(len(cfg))}, Layers: []v1.Descriptor{}}
	m.SchemaVersion = 2
	body, _ := json.Marshal(m)
	dgst := digest.FromBytes(body)
	ad.SetReport(dgst.String(), &harbor.Report{Vulnerabilities: []harbor.Vulnerability{
		{ID: "CVE-2024-0001", Package: "openssl", Version: "3.0.1", FixVersion: "3.0.2", Severity: "Critical", Description: "bad\nmore"},
		{ID: "CVE-2024-0002", Package: "zlib", Version: "1.2", Severity: "Low"},
	}})
	if _, err := reg.PutManifest(ctx, "team/app", "v1", v1.MediaTypeImageManifest, body); err != nil {
		t.Fatal(err)
	}

	var rep wire.ScanReport
	deadline := time.Now().Add(60 * time.Second)
	for {
		adminDo(t, srv, "GET", "/api/v1/scans?image=team/app:v1", nil, &rep, 200)
		if rep.Status == "done" || rep.Status == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rep.Status != "done" || rep.Scanner != "harbor:Trivy/0.50.1" || rep.Summary.Critical != 1 || rep.Summary.Low != 1 {
		t.Fatalf("report %+v", rep)
	}

	// The adapter was given a token for exactly this repository.
	scans := ad.Scans()
	if len(scans) == 0 {
		t.Fatal("the adapter got no scan request")
	}
	sr := scans[len(scans)-1]
	if sr.Artifact.Repository != "team/app" || sr.Artifact.Digest != dgst.String() || sr.Registry.URL != srv.URL {
		t.Errorf("scan request %+v (registry %s)", sr.Artifact, sr.Registry.URL)
	}
	get := func(authz, repo, ref string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v2/%s/manifests/%s", srv.URL, repo, ref), nil)
		req.Header.Set("Authorization", authz)
		req.Header.Set("Accept", v1.MediaTypeImageManifest)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Gate CRITICAL: the admin is denied, the adapter's token is not.
	adminDo(t, srv, "PUT", "/api/v1/projects/team/scan-policy", wire.ScanPolicy{ScanOnPush: true, BlockSeverity: "CRITICAL", Unscanned: "allow"}, nil, 200)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v2/team/app/manifests/v1", nil)
	req.SetBasicAuth(berthtest.AdminUser, berthtest.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	denied, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(denied), "DENIED") || !strings.Contains(string(denied), "CVE-2024-0001") {
		t.Errorf("admin pull under the gate: %d %s", resp.StatusCode, denied)
	}
	if code, b := get(sr.Registry.Authorization, "team/app", dgst.String()); code != http.StatusOK {
		t.Errorf("adapter pull with its token: %d %s", code, b)
	}
	if code, _ := get(sr.Registry.Authorization, "team/other", "v1"); code == http.StatusOK {
		t.Errorf("the adapter's token pulls another repository")
	}
	for _, r := range ad.Requests() {
		if got := r.Authorization; got != "Bearer adapter-secret" {
			t.Errorf("request to the adapter with Authorization %q", got)
		}
	}
}
