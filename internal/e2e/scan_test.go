package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/berthtest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// debianLayer is a gzipped layer holding this machine's os-release and dpkg
// database (real packages at real versions) and a file with a cloud access
// key, so a scan finds packages, a secret and the no-user hygiene finding.
func debianLayer(t *testing.T) []byte {
	t.Helper()
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		t.Skipf("this machine has no dpkg database: %v", err)
	}
	osRelease, err := os.ReadFile("/etc/os-release")
	if err != nil {
		t.Skipf("this machine has no os-release: %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{
		{"etc/os-release", osRelease},
		{"var/lib/dpkg/status", status},
		{"root/.aws/credentials", []byte("[default]\naws_access_key_id = AKIAZ7Q3XW5RT2MPL4KD\n")},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return gzipBytes(t, buf.Bytes())
}

// pushDebianImage pushes an image of debianLayer to repo:tag.
func pushDebianImage(t *testing.T, reg *berthtest.Registry, repo, tag string) *image {
	t.Helper()
	layer := newContent(v1.MediaTypeImageLayerGzip, debianLayer(t))
	cfg := v1.Image{Platform: linuxAmd64, RootFS: v1.RootFS{Type: "layers"}}
	im := &image{Config: newContent(v1.MediaTypeImageConfig, mustJSON(t, cfg)), Layers: []content{layer}}
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: im.Config.Desc, Layers: []v1.Descriptor{layer.Desc}}
	m.SchemaVersion = 2
	im.Manifest = newContent(v1.MediaTypeImageManifest, mustJSON(t, m))
	pushImage(t, reg, repo, tag, im)
	return im
}

// osvFixture copies hand-written OSV records into a fresh directory for
// `berth vulndb import`.
func osvFixture(t *testing.T, ids ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, id := range ids {
		b := readFile(t, filepath.Join("..", "vuln", "testdata", "handwritten", id+".json"))
		writeFile(t, dir, id+".json", b)
	}
	return dir
}

func hasVuln(r *wire.ScanReport, id string) bool {
	for _, v := range r.Vulnerabilities {
		if v.ID == id {
			return true
		}
	}
	return false
}

// TestScanning: a push is scanned by a durable job; findings and SBOMs are
// visible through the API, `berth vulns` (table, JSON, SARIF) and `oras
// discover`; a newly imported advisory reaches the stored image without a
// rescan; and the pull gate denies above the threshold, lets an allowlisted
// image through and denies again once the entry expired.
func TestScanning(t *testing.T) {
	oras := berthtest.Tool(t, "oras")
	crane := berthtest.Tool(t, "crane")
	t.Parallel()
	dataDir := t.TempDir()
	p := start(t, berthtest.ProcessOptions{DataDir: dataDir})
	reg := p.Registry()
	ctx := context.Background()

	env := newToolEnv(t).with("BERTH_CONFIG_DIR=" + filepath.Join(t.TempDir(), "berth"))
	berth := berthBinary(t)
	env.run(t, berth, "vulndb", "import", osvFixture(t, "BERTH-DSA-0003"), "--source", "fixtures", "--data-dir", dataDir)
	env.runStdin(t, strings.NewReader(berthtest.AdminPassword+"\n"), berth, "login", p.URL, "-u", berthtest.AdminUser, "--password-stdin")
	env.run(t, berth, "project", "create", "team")
	env.run(t, berth, "scan-policy", "set", "team", "--scan-on-push")

	im := pushDebianImage(t, reg, "team/app", "1.0")
	ref := "team/app:1.0"

	// Scan on push: wait for the job's result.
	var rep wire.ScanReport
	deadline := time.Now().Add(90 * time.Second)
	for {
		decodeJSON(t, env.run(t, berth, "vulns", ref, "-o", "json"), &rep)
		if rep.Status == "done" || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if rep.Status != "done" {
		t.Fatalf("scan on push did not finish: %+v", rep)
	}
	if rep.Digest != im.Manifest.Desc.Digest.String() || !hasVuln(&rep, "BERTH-DSA-0003") || hasVuln(&rep, "BERTH-DSA-0001") {
		t.Fatalf("report %s: vulnerabilities %+v", rep.Digest, rep.Vulnerabilities)
	}
	var secret bool
	for _, f := range rep.Findings {
		if f.Kind == "secret" && f.Path == "root/.aws/credentials" {
			secret = true
		}
	}
	if !secret || rep.Summary.Secrets == 0 {
		t.Errorf("findings %+v: want the AWS key", rep.Findings)
	}
	out := env.run(t, berth, "scan", ref, "--wait", "60s")
	if !strings.Contains(out, "done") {
		t.Errorf("berth scan --wait:\n%s", out)
	}
	table := env.run(t, berth, "vulns", ref)
	if !strings.Contains(table, "BERTH-DSA-0003") || strings.Contains(table, "AKIAZ7Q3XW5RT2MPL4KD") {
		t.Errorf("berth vulns table:\n%s", table)
	}
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
			} `json:"results"`
		} `json:"runs"`
	}
	decodeJSON(t, env.run(t, berth, "vulns", ref, "-o", "sarif"), &sarif)
	if sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) == 0 {
		t.Errorf("SARIF: %+v", sarif)
	}

	// SBOMs are referrers of the image, found by oras.
	or := client{env: newToolEnv(t), bin: oras, flags: []string{"--plain-http"}}
	disc := or.run(t, "discover", "--format", "json", host(p)+"/"+ref)
	for _, mt := range []string{"application/vnd.cyclonedx+json", "application/spdx+json"} {
		if !strings.Contains(disc, mt) {
			t.Errorf("oras discover lists no %s referrer:\n%s", mt, disc)
		}
	}
	sbomFile := filepath.Join(t.TempDir(), "sbom.json")
	env.run(t, berth, "sbom", ref, "--format", "cyclonedx", "--output", sbomFile)
	var bom struct {
		BOMFormat  string            `json:"bomFormat"`
		Components []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(readFile(t, sbomFile), &bom); err != nil || bom.BOMFormat != "CycloneDX" || len(bom.Components) < 50 {
		t.Errorf("berth sbom: %v, format %q with %d components", err, bom.BOMFormat, len(bom.Components))
	}

	// A new advisory reaches the stored image by re-matching, not by a
	// rescan: the scan's finish time stays.
	decodeJSON(t, env.run(t, berth, "vulns", ref, "-o", "json"), &rep)
	finished := rep.FinishedAt
	env.run(t, berth, "vulndb", "import", osvFixture(t, "BERTH-DSA-0001"), "--source", "fixtures-2", "--data-dir", dataDir)
	deadline = time.Now().Add(90 * time.Second)
	for {
		decodeJSON(t, env.run(t, berth, "vulns", ref, "-o", "json"), &rep)
		if hasVuln(&rep, "BERTH-DSA-0001") || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if !hasVuln(&rep, "BERTH-DSA-0001") {
		t.Fatalf("the new advisory never reached the stored image: %+v", rep.Vulnerabilities)
	}
	if rep.FinishedAt != finished {
		t.Errorf("the image was rescanned (finished %s, then %s); want a re-match only", finished, rep.FinishedAt)
	}

	// The gate: HIGH and above is denied, naming the CVE.
	cr := client{env: newToolEnv(t), bin: crane, flags: []string{"--insecure"}}
	env.run(t, berth, "scan-policy", "set", "team", "--block-severity", "HIGH", "--unscanned", "deny")
	stdout, stderr, err := cr.env.exec(cr.bin, nil, append(cr.flags, "manifest", host(p)+"/"+ref)...)
	if err == nil || !strings.Contains(stderr, "DENIED") || !strings.Contains(stderr, "CVE-2099-0001") {
		t.Fatalf("crane manifest under the gate: err %v\nstdout %s\nstderr %s", err, stdout, stderr)
	}
	// Allowlisted (one by its CVE alias, one system-wide), the pull passes
	// until the project entry expires.
	env.run(t, berth, "allowlist", "add", "--project", "team", "CVE-2099-0001", "--reason", "not reachable in our use", "--expires", "8s")
	env.run(t, berth, "allowlist", "add", "BERTH-DSA-0003", "--reason", "local only")
	expiry := time.Now().Add(8 * time.Second)
	checkBytes(t, "crane manifest with allowlist", []byte(cr.run(t, "manifest", host(p)+"/"+ref)), im.Manifest.Data)
	time.Sleep(time.Until(expiry) + time.Second)
	_, stderr, err = cr.env.exec(cr.bin, nil, append(cr.flags, "manifest", host(p)+"/"+ref)...)
	if err == nil || !strings.Contains(stderr, "DENIED") {
		t.Fatalf("crane manifest after the allowlist entry expired: err %v\n%s", err, stderr)
	}
	_ = ctx
}
