package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/client"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
)

// TestScanPolicyAndAllowlist drives the scan policy and allowlist methods
// against a real server, for a project and for the system-wide list.
func TestScanPolicyAndAllowlist(t *testing.T) {
	s := admintest.Start(t)
	ctx := context.Background()
	s.AddProject(t, "team", false)
	s.AddUser(t, "bob", "bob-password", false)
	s.AddMember(t, "team", "bob", access.Guest)
	c := newClient(t, s, "admin", admintest.AdminPassword)
	bob := newClient(t, s, "bob", "bob-password")

	p, err := c.GetScanPolicy(ctx, "team")
	if err != nil || p.Project != "team" || p.BlockSeverity != "NONE" {
		t.Fatalf("default policy: %+v %v", p, err)
	}
	in := wire.ScanPolicy{ScanOnPush: true, BlockSeverity: "HIGH", Unscanned: "wait", WaitSeconds: 60}
	set, err := c.SetScanPolicy(ctx, "team", in)
	if err != nil {
		t.Fatal(err)
	}
	want := wire.ScanPolicy{Project: "team", ScanOnPush: true, BlockSeverity: "HIGH", Unscanned: "wait", WaitSeconds: 60,
		UpdatedAt: set.UpdatedAt, UpdatedBy: "admin"}
	if diff := cmp.Diff(want, *set); diff != "" {
		t.Errorf("set policy (-want +got):\n%s", diff)
	}
	if got, err := bob.GetScanPolicy(ctx, "team"); err != nil || !cmp.Equal(want, *got) {
		t.Errorf("policy read by a guest: %+v %v", got, err)
	}
	if _, err := bob.SetScanPolicy(ctx, "team", in); !errors.Is(err, errdefs.ErrDenied) {
		t.Errorf("policy set by a guest: %v, want ErrDenied", err)
	}
	if _, err := c.SetScanPolicy(ctx, "team", wire.ScanPolicy{Unscanned: "deny", WaitSeconds: 5}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("wait seconds without wait: %v, want ErrInvalid", err)
	}

	for _, project := range []string{"team", ""} {
		t.Run("allowlist "+project, func(t *testing.T) {
			if l, err := c.ListAllowlist(ctx, project); err != nil || len(l) != 0 {
				t.Fatalf("empty list: %+v %v", l, err)
			}
			e, err := c.AddAllowlistEntry(ctx, project, wire.AllowlistEntry{ID: "CVE-2024-0001", Reason: "not reachable",
				ExpiresAt: "2099-12-31T00:00:00Z"})
			if err != nil {
				t.Fatal(err)
			}
			want := wire.AllowlistEntry{Project: project, ID: "CVE-2024-0001", Reason: "not reachable",
				ExpiresAt: "2099-12-31T00:00:00Z", CreatedAt: e.CreatedAt, CreatedBy: "admin"}
			if diff := cmp.Diff(want, *e); diff != "" {
				t.Errorf("added (-want +got):\n%s", diff)
			}
			if _, err := c.AddAllowlistEntry(ctx, project, wire.AllowlistEntry{ID: "GHSA-aaaa-bbbb-cccc", Reason: "test only"}); err != nil {
				t.Fatal(err)
			}
			l, err := bob.ListAllowlist(ctx, project)
			if err != nil || len(l) != 2 {
				t.Fatalf("list as a guest: %+v %v", l, err)
			}
			if _, err := bob.AddAllowlistEntry(ctx, project, wire.AllowlistEntry{ID: "CVE-1", Reason: "x"}); !errors.Is(err, errdefs.ErrDenied) {
				t.Errorf("add as a guest: %v, want ErrDenied", err)
			}
			if err := c.RemoveAllowlistEntry(ctx, project, "GHSA-aaaa-bbbb-cccc"); err != nil {
				t.Fatal(err)
			}
			if l, err := c.ListAllowlist(ctx, project); err != nil || len(l) != 1 || l[0].ID != "CVE-2024-0001" {
				t.Errorf("list after remove: %+v %v", l, err)
			}
			if err := c.RemoveAllowlistEntry(ctx, project, "GHSA-aaaa-bbbb-cccc"); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("remove twice: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestScanWithoutScanner checks that the scan and SBOM methods carry the
// answer of a server set up without scanning.
func TestScanWithoutScanner(t *testing.T) {
	s := admintest.Start(t)
	ctx := context.Background()
	c := newClient(t, s, "admin", admintest.AdminPassword)
	tests := []struct {
		name string
		call func() error
	}{
		{"request", func() error { _, err := c.RequestScan(ctx, "team/api:v1"); return err }},
		{"report", func() error { _, err := c.ScanReport(ctx, "team/api:v1"); return err }},
		{"sbom", func() error { _, _, err := c.SBOM(ctx, "team/api:v1", "spdx"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ce *client.Error
			if err := tt.call(); !errors.As(err, &ce) || !errors.Is(err, errdefs.ErrUnavailable) || ce.Status != http.StatusServiceUnavailable {
				t.Errorf("got %#v, want a 503 UNAVAILABLE", err)
			}
		})
	}
}

// TestSBOM checks that SBOM asks for the image and format, takes any of
// the SBOM media types and returns the document untouched with its media
// type, which is not JSON the client would decode.
func TestSBOM(t *testing.T) {
	const doc = "{\"bomFormat\":\"CycloneDX\",\n \"specVersion\":\"1.6\"}\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.URL.Path != "/api/v1/sboms" || q.Get("image") != "team/api:v1":
			http.NotFound(w, r)
		case r.Header.Get("Accept") != "application/vnd.cyclonedx+json, application/spdx+json":
			http.Error(w, "accept "+r.Header.Get("Accept"), http.StatusNotAcceptable)
		case q.Has("format") && q.Get("format") != "cyclonedx":
			http.Error(w, "format "+q.Get("format"), http.StatusBadRequest)
		default:
			w.Header().Set("Content-Type", "application/vnd.cyclonedx+json")
			_, _ = w.Write([]byte(doc))
		}
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"cyclonedx", ""} {
		got, mediaType, err := c.SBOM(context.Background(), "team/api:v1", format)
		if err != nil || string(got) != doc || mediaType != "application/vnd.cyclonedx+json" {
			t.Errorf("SBOM(%q) = %q, %q, %v", format, got, mediaType, err)
		}
	}
}
