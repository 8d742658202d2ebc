package scanner_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan/layers/layertest"
	"github.com/berth-registry/berth/internal/vuln/osv"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// goProgram uses golang.org/x/text at v0.3.6, the last version before the
// fix of GO-2021-0113 (CVE-2021-38561).
const goProgram = `package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() { fmt.Println(language.MustParse("en-US")) }
`

// buildVulnerableBinary builds goProgram with the go command on this
// machine, fetching x/text v0.3.6 through the module proxy as the test
// script's tool installs do.
func buildVulnerableBinary(t *testing.T) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":  "module example.com/textapp\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.6\n",
		"main.go": goProgram,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		cmd := exec.CommandContext(t.Context(), goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			if berthtest.RequireTools() {
				t.Fatalf("go %v: %v\n%s", args, err, out)
			}
			t.Skipf("go %v (the module proxy may be unreachable): %v\n%s", args, err, out)
		}
	}
	run("mod", "tidy")
	run("build", "-trimpath", "-o", "textapp", ".")
	b, err := os.ReadFile(filepath.Join(dir, "textapp"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoBinaryAdvisory scans an image holding a Go binary built from a
// module version with a published advisory and finds it through the
// binary's build information, matched against the real OSV record.
func TestGoBinaryAdvisory(t *testing.T) {
	bin := buildVulnerableBinary(t)
	e := newEnv(t)
	ctx := t.Context()
	if _, err := osv.Import(ctx, e.vulns, filepath.Join("..", "vuln", "testdata", "osv", "GO-2021-0113.json"), osv.Options{}); err != nil {
		t.Fatal(err)
	}
	ls := layertest.NewStore(t)
	layer := ls.Layer(t, layertest.Gzip, layertest.File{Path: "usr/local/bin/textapp", Body: bin, Mode: 0o755})
	dgst := e.push(t, ls, "team/textapp", "1", ls.Image(t, v1.Image{Config: v1.ImageConfig{User: "65532"}}, layer))
	e.drain(t)
	rep, err := e.svc.Report(ctx, "team/textapp", dgst.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.State == nil || rep.State.Status != meta.ScanDone {
		t.Fatalf("scan: %+v", rep.State)
	}
	for _, f := range rep.Result.Vulnerabilities {
		if f.ID == "GO-2021-0113" && f.Package.Name == "golang.org/x/text" && strings.TrimPrefix(f.Package.Version, "v") == "0.3.6" {
			if f.FixedVersion == "" {
				t.Errorf("finding without the fixed version: %+v", f)
			}
			return
		}
	}
	t.Fatalf("GO-2021-0113 not found in %+v", rep.Result.Vulnerabilities)
}
