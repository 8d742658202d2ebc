package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// promoteEnv is a full server with staging/app:v1, logged in as the admin.
func promoteEnv(t *testing.T) (*berthtest.Server, string) {
	t.Helper()
	srv := berthtest.Start(t)
	t.Setenv("BERTH_CONFIG_DIR", filepath.Join(t.TempDir(), "config"))
	if code, _, errOut := runIn(t, berthtest.AdminPassword+"\n", "login", srv.URL, "-u", berthtest.AdminUser, "--password-stdin"); code != 0 {
		t.Fatalf("login: exit %d: %s", code, errOut)
	}
	reg := srv.Registry()
	ctx := t.Context()
	config, layer := []byte(`{"os":"linux"}`), []byte("a layer")
	var descs []v1.Descriptor
	for _, b := range [][]byte{config, layer} {
		d, err := reg.PushBlob(ctx, "staging/app", b)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: d, Size: int64(len(b))})
	}
	descs[0].MediaType = v1.MediaTypeImageConfig
	body, _ := json.Marshal(v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest, Config: descs[0], Layers: descs[1:]})
	d, err := reg.PutManifest(ctx, "staging/app", "v1", v1.MediaTypeImageManifest, body)
	if err != nil {
		t.Fatal(err)
	}
	return srv, d.String()
}

func TestPromoteCommands(t *testing.T) {
	srv, dgst := promoteEnv(t)
	out := mustRun(t, "promote", "staging/app:v1", "prod/app:v1")
	if want := "Promoted staging/app@" + dgst + " to prod/app:v1 (0 children, 0 referrers)\n"; out != want {
		t.Errorf("promote printed %q, want %q", out, want)
	}
	var p wire.Promotion
	if err := json.Unmarshal([]byte(mustRun(t, "promote", "staging/app@"+dgst, "prod/app:stable", "-o", "json")), &p); err != nil {
		t.Fatal(err)
	}
	if p.Digest != dgst || p.Tag != "stable" || p.SourceReference != dgst {
		t.Errorf("json record %+v", p)
	}
	if _, _, d, err := srv.Registry().GetManifest(t.Context(), "prod/app", "stable"); err != nil || d.String() != dgst {
		t.Fatalf("prod/app:stable = %s, %v", d, err)
	}

	table := mustRun(t, "promotions", "--digest", dgst)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "prod/app:stable") || !strings.Contains(lines[1], "staging/app@sha256:") ||
		!strings.Contains(lines[2], "staging/app:v1") {
		t.Errorf("promotions table:\n%s", table)
	}
	var list []wire.Promotion
	if err := json.Unmarshal([]byte(mustRun(t, "promotions", "--project", "prod", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Tag != "stable" {
		t.Errorf("promotions of prod: %+v", list)
	}
}

func TestPromoteUsageErrors(t *testing.T) {
	promoteEnv(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"one argument", []string{"promote", "staging/app:v1"}, "accepts 2 arg"},
		{"no filter", []string{"promotions"}, "--digest or --project"},
		{"destination by digest", []string{"promote", "staging/app:v1", "prod/app@sha256:" + strings.Repeat("a", 64)}, "destination"},
		{"missing source", []string{"promote", "staging/app:nope", "prod/app:v1"}, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runIn(t, "", tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want failure saying %q", code, errOut, tc.want)
			}
		})
	}
}
