package sarif

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"github.com/berth-registry/berth/internal/vuln"
	"github.com/google/go-cmp/cmp"
)

const image = "team/api@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func findings() []vuln.Finding {
	openssl := vuln.Package{Ecosystem: "Debian:12", Name: "openssl", Version: "3.0.1", Location: "/var/lib/dpkg/status"}
	libssl := vuln.Package{Ecosystem: "Debian:12", Name: "libssl3", Version: "3.0.1", Location: "/var/lib/dpkg/status"}
	return []vuln.Finding{
		{ID: "CVE-2024-0001", Aliases: []string{"DSA-1"}, Severity: vuln.SeverityCritical, CVSS: 9.8, FixedVersion: "3.0.2", Summary: "heap overflow", Package: openssl},
		{ID: "CVE-2024-0001", Aliases: []string{"DSA-1"}, Severity: vuln.SeverityCritical, CVSS: 9.8, FixedVersion: "3.0.2", Summary: "heap overflow", Package: libssl},
		{ID: "GHSA-aaaa-bbbb-cccc", Severity: vuln.SeverityMedium, Package: vuln.Package{Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.1.0"}},
		{ID: "DSA-9", Severity: vuln.SeverityUnknown, Package: vuln.Package{Ecosystem: "Debian:12", Name: "zlib", Version: "1.2"}},
	}
}

// sarifLog is the part of a SARIF 2.1.0 log that GitHub code scanning
// reads, decoded from the JSON as a consumer sees it.
type sarifLog struct {
	Version string `json:"version"`
	Schema  string `json:"$schema"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name  string `json:"name"`
				Rules []struct {
					ID               string                           `json:"id"`
					ShortDescription *struct{ Text string }           `json:"shortDescription"`
					Help             *struct{ Text, Markdown string } `json:"help"`
					HelpURI          string                           `json:"helpUri"`
					Properties       map[string]any                   `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    *string `json:"ruleId"`
			RuleIndex *int    `json:"ruleIndex"`
			Level     string  `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
			PartialFingerprints map[string]string `json:"partialFingerprints"`
		} `json:"results"`
	} `json:"runs"`
}

func decodeLog(t *testing.T, fs []vuln.Finding) sarifLog {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, image, fs, Tool{Version: "v1.2.3"}); err != nil {
		t.Fatal(err)
	}
	var l sarifLog
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&l); err != nil {
		t.Fatalf("decode: %v\n%s", err, buf.String())
	}
	return l
}

// TestRequiredFields checks what the SARIF 2.1.0 schema requires and what
// GitHub code scanning needs of each rule and result. (The schema itself
// is not available offline to validate against.)
func TestRequiredFields(t *testing.T) {
	l := decodeLog(t, findings())
	if l.Version != "2.1.0" || l.Schema == "" || len(l.Runs) != 1 {
		t.Fatalf("version %q, $schema %q, %d runs", l.Version, l.Schema, len(l.Runs))
	}
	run := l.Runs[0]
	if run.Tool.Driver.Name != "Berth" {
		t.Errorf("driver name %q", run.Tool.Driver.Name)
	}
	var ids []string
	for _, r := range run.Tool.Driver.Rules {
		ids = append(ids, r.ID)
		if r.ShortDescription == nil || r.ShortDescription.Text == "" {
			t.Errorf("rule %s: no shortDescription.text", r.ID)
		}
		if r.Help == nil || r.Help.Text == "" || r.Help.Markdown == "" {
			t.Errorf("rule %s: no help", r.ID)
		}
		tags, _ := r.Properties["tags"].([]any)
		if !slices.Contains(tags, any("security")) {
			t.Errorf("rule %s: tags %v lack security", r.ID, tags)
		}
		if s, ok := r.Properties["security-severity"].(string); ok {
			if v, err := strconv.ParseFloat(s, 64); err != nil || v <= 0 || v > 10 {
				t.Errorf("rule %s: security-severity %q", r.ID, s)
			}
		}
	}
	if diff := cmp.Diff([]string{"CVE-2024-0001", "GHSA-aaaa-bbbb-cccc", "DSA-9"}, ids); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if len(run.Results) != 4 {
		t.Fatalf("%d results, want one per vulnerability and package", len(run.Results))
	}
	seen := map[string]bool{}
	for i, r := range run.Results {
		if r.RuleID == nil || r.RuleIndex == nil || *r.RuleIndex >= len(ids) || ids[*r.RuleIndex] != *r.RuleID {
			t.Errorf("result %d: ruleId %v, ruleIndex %v", i, r.RuleID, r.RuleIndex)
		}
		if r.Message.Text == "" || r.Level == "" {
			t.Errorf("result %d: message %q, level %q", i, r.Message.Text, r.Level)
		}
		if len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" ||
			r.Locations[0].PhysicalLocation.Region == nil || r.Locations[0].PhysicalLocation.Region.StartLine < 1 {
			t.Errorf("result %d: locations %+v", i, r.Locations)
		}
		fp := r.PartialFingerprints[FingerprintKey]
		if fp == "" || seen[fp] {
			t.Errorf("result %d: fingerprint %q missing or shared", i, fp)
		}
		seen[fp] = true
	}
	if got := run.Results[0].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != "var/lib/dpkg/status" {
		t.Errorf("uri of a located package %q", got)
	}
	if got := run.Results[2].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != image {
		t.Errorf("uri of a package without a location %q, want the image", got)
	}
}

func TestLevelsAndScores(t *testing.T) {
	tests := []struct {
		sev   vuln.Severity
		cvss  float64
		level string
		score string
	}{
		{vuln.SeverityCritical, 9.8, "error", "9.8"},
		{vuln.SeverityCritical, 0, "error", "9.5"},
		{vuln.SeverityHigh, 0, "error", "8.0"},
		{vuln.SeverityMedium, 6.1, "warning", "6.1"},
		{vuln.SeverityMedium, 0, "warning", "5.5"},
		{vuln.SeverityLow, 0, "note", "2.0"},
		{vuln.SeverityUnknown, 0, "note", ""},
	}
	for _, tt := range tests {
		t.Run(tt.sev.String()+"/"+strconv.FormatFloat(tt.cvss, 'f', 1, 64), func(t *testing.T) {
			f := vuln.Finding{ID: "X", Severity: tt.sev, CVSS: tt.cvss}
			if got := Level(tt.sev); got != tt.level {
				t.Errorf("Level = %q, want %q", got, tt.level)
			}
			if got := SecuritySeverity(f); got != tt.score {
				t.Errorf("SecuritySeverity = %q, want %q", got, tt.score)
			}
		})
	}
}

// TestFingerprintStable checks that a fingerprint ignores the installed
// version and the image, so an alert survives a rebuild that did not fix
// it.
func TestFingerprintStable(t *testing.T) {
	a := findings()[0]
	b := a
	b.Package.Version, b.FixedVersion = "3.0.1-2", "3.0.3"
	if Fingerprint(a) != Fingerprint(b) {
		t.Error("fingerprint depends on the installed version")
	}
	c := a
	c.Package.Name = "libssl3"
	if Fingerprint(a) == Fingerprint(c) {
		t.Error("two packages share a fingerprint")
	}
}

func TestEmpty(t *testing.T) {
	l := decodeLog(t, nil)
	if len(l.Runs) != 1 || len(l.Runs[0].Results) != 0 {
		t.Errorf("runs %+v", l.Runs)
	}
	var raw map[string]any
	var buf bytes.Buffer
	if err := Write(&buf, image, nil, Tool{}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	run := raw["runs"].([]any)[0].(map[string]any)
	if _, ok := run["results"].([]any); !ok {
		t.Errorf("results is %v, want [] (the schema requires an array)", run["results"])
	}
}
