package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"go.yaml.in/yaml/v3"
)

// conformanceConfig enables every API and data kind of the OCI conformance
// program for distribution-spec 1.1, except sparse manifests: those name
// blobs or child manifests the registry does not hold, and Berth refuses
// them on purpose. The spec allows a registry to (MAY) reject such a
// manifest, and DESIGN.md rule 1 requires it: a manifest is stored only if
// everything it names exists, so a pull never meets a dangling reference.
const conformanceConfig = `resultsDir: %[1]s
version: "1.1"
registry: %[2]s
tls: %[3]s
repo1: %[4]s/repo1
repo2: %[4]s/repo2
username: "%[5]s"
password: "%[6]s"
cacheAuth: true
logging: warn
apis:
  ping: true
  pull: true
  push: true
  blobs:
    atomic: true
    delete: true
    digestHeader: true
    mountAnonymous: true
    uploadCancel: true
  manifests:
    atomic: true
    delete: true
    digestHeader: true
    tagParam: true
  tags:
    atomic: true
    delete: true
    list: true
  referrer: true
data:
  image: true
  index: true
  indexList: true
  sparse: false
  artifact: true
  subject: true
  subjectMissing: true
  artifactList: true
  subjectList: true
  dataField: true
  nondistributable: true
  customFields: true
  noLayers: true
  emptyBlob: true
  sha512: true
`

// allowedSkips lists the features (names as results.yaml gives them) the
// conformance program may report as skipped, each with why. Any other skip
// fails the test, so a feature cannot quietly stop working.
//
// It is empty: anonymous blob mount ("Blob anonymous mount"), the last
// feature that fell back to an upload (202) and was reported as a skip,
// works since the registry searches the repositories holding the blob.
// Add an entry only with the reason and an issue to remove it again.
var allowedSkips = map[string]string{}

// disabledFeatures are the features the configuration switches off; the
// program reports them as "Disabled". See conformanceConfig for why.
var disabledFeatures = []string{"Sparse Manifests"}

// requiredFeatures must be reported (and pass): each is one switch of the
// configuration, so a run that silently tested less fails.
var requiredFeatures = []string{
	"Blob anonymous mount", "Blob upload cancel", "Blob chunked", "Blob streaming", "Blob mount",
	"Manifest put with tag params", "Manifest put with subject", "Referrers", "Tag delete", "Tag listing",
	"Artifacts with Subject", "Index with Subject", "Nested Index", "Non-distributable Layers",
	"Blobs sha512", "Digest Algorithm sha512", "Data Field", "Custom Fields", "Empty Index", "Missing Subject",
}

// minConformanceTests is well below the ~790 test cases a full run of the
// pinned program reports, and well above what a run that gave up early
// (or tested a few kinds only) reports.
const minConformanceTests = 700

// TestConformance runs the OCI distribution-spec conformance program
// against berth serve, over plain HTTP and over HTTPS with a self-signed
// certificate.
func TestConformance(t *testing.T) {
	tool := berthtest.Tool(t, "conformance")
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"http", false}, {"https", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts berthtest.ProcessOptions
			if tc.tls {
				opts.TLS = berthtest.NewTLSCert(t)
			}
			p := start(t, opts)
			runConformance(t, tool, p, opts.TLS, "conformance")
		})
	}
}

// runConformance runs the program against p (whose certificate is cert,
// nil for plain HTTP) with repositories under prefix and fails the test for every failed test case, every skip not in
// allowedSkips, every feature that did not pass, and an implausibly small
// run.
func runConformance(t *testing.T, tool string, p *berthtest.Process, cert *berthtest.TLSCert, prefix string) {
	t.Helper()
	runConformanceAs(t, tool, p, cert, prefix, berthtest.AdminUser, berthtest.AdminPassword)
}

// runConformanceAs is runConformance signed in as user with password.
func runConformanceAs(t *testing.T, tool string, p *berthtest.Process, cert *berthtest.TLSCert, prefix, user, password string) {
	t.Helper()
	dir := t.TempDir()
	resultsDir := filepath.Join(dir, "results")
	if keep := os.Getenv("BERTHTEST_RESULTS_DIR"); keep != "" {
		// Keep the reports (report.html shows every request and response).
		resultsDir = filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
	}
	env := append(envWithout(envWithout(os.Environ(), "OCI_"), "SSL_CERT_"), "OCI_CONFIGURATION="+filepath.Join(dir, "oci-conformance.yaml"))
	tlsMode := "disabled"
	if cert != nil {
		// The pinned program accepts "tls: insecure" but never skips
		// verification for it, so it verifies the self-signed certificate
		// like any client: through SSL_CERT_FILE, which Go reads on Linux.
		tlsMode = "enabled"
		env = append(env, "SSL_CERT_FILE="+cert.CAFile)
	}
	writeFile(t, dir, "oci-conformance.yaml", fmt.Appendf(nil, conformanceConfig, resultsDir, p.Addr, tlsMode, prefix, user, password))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool)
	cmd.Dir = dir
	cmd.Env = env
	out, runErr := cmd.CombinedOutput()
	junit, err := os.ReadFile(filepath.Join(resultsDir, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance wrote no junit.xml (exit: %v): %v\n%s", runErr, err, out)
	}
	cases := parseJUnit(t, junit)
	features := parseFeatures(t, filepath.Join(resultsDir, "results.yaml"))

	failed := checkCases(t, cases)
	failed = checkFeatures(t, features) || failed
	if len(cases) < minConformanceTests {
		t.Errorf("conformance reported %d test cases, want at least %d: the run did not test everything", len(cases), minConformanceTests)
		failed = true
	}
	if runErr != nil && !failed {
		t.Errorf("conformance exited with %v though every reported test passed:\n%s", runErr, out)
	}
	if t.Failed() {
		t.Logf("conformance output:\n%s", out)
	}
	t.Logf("conformance: %d test cases against %s (tls %s), results in %s", len(cases), p.URL, tlsMode, resultsDir)
}

// junitCase is one test case of the program's junit.xml.
type junitCase struct {
	Name      string        `xml:"name,attr"`
	Status    string        `xml:"status,attr"`
	Skipped   *junitMessage `xml:"skipped"`
	Failure   *junitMessage `xml:"failure"`
	Error     *junitMessage `xml:"error"`
	SystemOut string        `xml:"system-out"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Data    string `xml:",chardata"`
}

func parseJUnit(t *testing.T, data []byte) []junitCase {
	t.Helper()
	var doc struct {
		Suites []struct {
			Cases []junitCase `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse junit.xml: %v", err)
	}
	var cases []junitCase
	for _, s := range doc.Suites {
		cases = append(cases, s.Cases...)
	}
	return cases
}

// checkCases reports every failed or erroring case with its message, and
// every skipped case (skips are judged per feature by checkFeatures, which
// knows the allowlist; they are listed here so the reason is visible).
func checkCases(t *testing.T, cases []junitCase) (failed bool) {
	t.Helper()
	for _, c := range cases {
		switch c.Status {
		case "passed":
		case "skipped":
			t.Logf("skipped: %s: %s", c.Name, caseMessage(c))
		default:
			t.Errorf("conformance %s: %s: %s", c.Status, c.Name, caseMessage(c))
			failed = true
		}
	}
	return failed
}

func caseMessage(c junitCase) string {
	for _, m := range []*junitMessage{c.Failure, c.Error, c.Skipped} {
		if m != nil {
			return strings.TrimSpace(m.Message + "\n" + firstLines(m.Data, 20))
		}
	}
	return firstLines(c.SystemOut, 20)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines[n] = "..."
	}
	return strings.Join(lines, "\n")
}

// parseFeatures reads the per-feature verdicts (apis and data sections) of
// results.yaml.
func parseFeatures(t *testing.T, path string) map[string]string {
	t.Helper()
	var doc struct {
		APIs map[string]string `yaml:"apis"`
		Data map[string]string `yaml:"data"`
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("conformance results: %v", err)
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	out := make(map[string]string, len(doc.APIs)+len(doc.Data))
	for _, m := range []map[string]string{doc.APIs, doc.Data} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// checkFeatures wants every feature to pass, except disabled ones and
// allowlisted skips, and every required feature to be reported.
func checkFeatures(t *testing.T, features map[string]string) (failed bool) {
	t.Helper()
	for _, name := range requiredFeatures {
		if _, ok := features[name]; !ok {
			t.Errorf("conformance did not report feature %q", name)
			failed = true
		}
	}
	for name, verdict := range features {
		want := "Pass"
		if slices.Contains(disabledFeatures, name) {
			want = "Disabled"
		}
		if verdict == "Skip" && allowedSkips[name] != "" {
			continue
		}
		if verdict != want {
			t.Errorf("conformance feature %q: %s, want %s", name, verdict, want)
			failed = true
		}
	}
	return failed
}

// envWithout drops variables whose names start with prefix.
func envWithout(env []string, prefix string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, prefix) })
}
