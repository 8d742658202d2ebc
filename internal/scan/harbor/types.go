package harbor

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"strings"
	"time"
)

// Media types of the adapter API.
const (
	// MediaTypeMetadata is the adapter metadata document (GET /metadata).
	MediaTypeMetadata = "application/vnd.scanner.adapter.metadata+json; version=1.0"
	// MediaTypeScanRequest is the body of POST /scan.
	MediaTypeScanRequest = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
	// MediaTypeScanResponse is the 202 answer to POST /scan.
	MediaTypeScanResponse = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
	// MediaTypeError is the body of an adapter error answer.
	MediaTypeError = "application/vnd.scanner.adapter.error+json; version=1.0"
	// MediaTypeVulnReport is the vulnerability report of spec v1.2
	// (Trivy's adapter produces only this one). It is the report type the
	// client asks for unless the adapter's metadata offers only
	// MediaTypeVulnReportHarbor.
	MediaTypeVulnReport = "application/vnd.security.vulnerability.report; version=1.1"
	// MediaTypeVulnReportHarbor is the older report type of the same shape
	// (spec v1.0 and v1.1, Clair's adapter).
	MediaTypeVulnReportHarbor = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"

	// MediaTypeOCIManifest is the OCI image manifest an adapter scans.
	MediaTypeOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	// MediaTypeDockerManifest is the Docker schema 2 image manifest an
	// adapter scans.
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// SameMediaType reports whether a and b name the same media type with the
// same version parameter, ignoring case and spacing ("a/b;version=1.0"
// equals "A/B; version=1.0"). Values that do not parse compare as trimmed
// strings.
func SameMediaType(a, b string) bool {
	ta, pa, errA := mime.ParseMediaType(a)
	tb, pb, errB := mime.ParseMediaType(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return ta == tb && pa["version"] == pb["version"]
}

// Scanner names the scanner behind an adapter.
type Scanner struct {
	// Name is the scanner's name ("Trivy").
	Name string `json:"name"`
	// Vendor is who provides it ("Aqua Security").
	Vendor string `json:"vendor"`
	// Version is the scanner's version ("0.50.1").
	Version string `json:"version"`
}

// Capability is one kind of artifact an adapter scans and the reports it
// then produces.
type Capability struct {
	// Type is "vulnerability", "sbom", or "" (a vulnerability capability
	// of an adapter older than spec v1.2).
	Type string `json:"type,omitempty"`
	// ConsumesMIMETypes are the artifact media types it scans.
	ConsumesMIMETypes []string `json:"consumes_mime_types"`
	// ProducesMIMETypes are the report media types it writes.
	ProducesMIMETypes []string `json:"produces_mime_types"`
}

// Metadata is what an adapter says about itself (GET /metadata).
type Metadata struct {
	// Scanner names the scanner.
	Scanner Scanner `json:"scanner"`
	// Capabilities lists what it scans and produces.
	Capabilities []Capability `json:"capabilities"`
	// Properties are free-form facts, such as
	// "harbor.scanner-adapter/vulnerability-database-updated-at".
	Properties map[string]string `json:"properties,omitempty"`
}

// Name returns "harbor:<name>/<version>" ("harbor:Trivy/0.50.1"), the
// scanner's name as Berth's reports show it.
func (m *Metadata) Name() string {
	if m.Scanner.Version == "" {
		return "harbor:" + m.Scanner.Name
	}
	return "harbor:" + m.Scanner.Name + "/" + m.Scanner.Version
}

// Consumes reports whether a vulnerability capability of m scans
// artifacts of mediaType.
func (m *Metadata) Consumes(mediaType string) bool {
	for _, c := range m.vulnCapabilities() {
		if containsMediaType(c.ConsumesMIMETypes, mediaType) {
			return true
		}
	}
	return false
}

// reportType returns the report media type the client should ask for: the
// v1.2 report when a vulnerability capability that scans image manifests
// produces it, else the older Harbor report, else "".
func (m *Metadata) reportType() string {
	for _, want := range []string{MediaTypeVulnReport, MediaTypeVulnReportHarbor} {
		for _, c := range m.vulnCapabilities() {
			scansImages := containsMediaType(c.ConsumesMIMETypes, MediaTypeOCIManifest) ||
				containsMediaType(c.ConsumesMIMETypes, MediaTypeDockerManifest)
			if scansImages && containsMediaType(c.ProducesMIMETypes, want) {
				return want
			}
		}
	}
	return ""
}

func (m *Metadata) vulnCapabilities() []Capability {
	var out []Capability
	for _, c := range m.Capabilities {
		if c.Type == "" || c.Type == "vulnerability" {
			out = append(out, c)
		}
	}
	return out
}

func containsMediaType(list []string, mediaType string) bool {
	for _, t := range list {
		if SameMediaType(t, mediaType) {
			return true
		}
	}
	return false
}

// Registry says where the adapter pulls the artifact from.
type Registry struct {
	// URL is the registry's base URL ("https://berth.example.com").
	URL string `json:"url"`
	// Authorization is the Authorization header value the adapter sends to
	// the registry ("Bearer …" or "Basic …"), "" for none. It is a secret:
	// String and LogValue leave it out.
	Authorization string `json:"authorization,omitempty"`
}

// String returns the URL and whether an authorization is set, never the
// authorization itself.
func (r Registry) String() string {
	if r.Authorization == "" {
		return fmt.Sprintf("{url:%s}", r.URL)
	}
	return fmt.Sprintf("{url:%s authorization:[redacted]}", r.URL)
}

// LogValue logs the URL only.
func (r Registry) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", r.URL), slog.Bool("authorization", r.Authorization != ""))
}

// Artifact names the artifact to scan, or that a report is about.
type Artifact struct {
	// Repository is the repository name ("library/mongo").
	Repository string `json:"repository"`
	// Digest is the manifest digest ("sha256:…").
	Digest string `json:"digest"`
	// Tag is a tag of the artifact, "" when none is known.
	Tag string `json:"tag,omitempty"`
	// MimeType is the manifest's media type.
	MimeType string `json:"mime_type,omitempty"`
}

// Request asks an adapter to scan an artifact (POST /scan).
type Request struct {
	// Registry says where to pull it from; URL is required.
	Registry Registry `json:"registry"`
	// Artifact names it; Repository, Digest and MimeType are required.
	Artifact Artifact `json:"artifact"`
}

// Report is a vulnerability report (the HarborVulnerabilityReport of the
// spec), the same shape for MediaTypeVulnReport and MediaTypeVulnReportHarbor.
type Report struct {
	// GeneratedAt is when the adapter wrote it.
	GeneratedAt time.Time `json:"generated_at"`
	// Artifact is what was scanned.
	Artifact Artifact `json:"artifact"`
	// Scanner is who scanned it.
	Scanner Scanner `json:"scanner"`
	// Severity is the worst severity found: "Unknown", "Negligible",
	// "Low", "Medium", "High" or "Critical".
	Severity string `json:"severity,omitempty"`
	// Vulnerabilities are the findings.
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// Vulnerability is one vulnerability of one package in a Report.
type Vulnerability struct {
	// ID is the vulnerability's id ("CVE-2017-8283", "GHSA-…").
	ID string `json:"id"`
	// Package is the affected package's name.
	Package string `json:"package"`
	// Version is the installed version.
	Version string `json:"version"`
	// FixVersion is the version that fixes it, "" when none is known.
	FixVersion string `json:"fix_version,omitempty"`
	// Severity is one of the names listed on Report.Severity.
	Severity string `json:"severity"`
	// Description is the long description.
	Description string `json:"description,omitempty"`
	// Links point to upstream advisories.
	Links []string `json:"links,omitempty"`
	// PreferredCVSS is the CVSS data the adapter prefers (spec v1.2).
	PreferredCVSS *CVSS `json:"preferred_cvss,omitempty"`
	// CWEIDs are the weakness ids ("CWE-476") (spec v1.2).
	CWEIDs []string `json:"cwe_ids,omitempty"`
	// CVSS3Score is the CVSS v3 score of spec v1.1 (a string there, a
	// number in some adapters).
	CVSS3Score Score `json:"cve3_score,omitempty"`
	// CVSS3Vector is the CVSS v3 vector of spec v1.1.
	CVSS3Vector string `json:"cvss3_vector,omitempty"`
	// VendorAttributes are adapter-specific; Trivy's adapter puts its
	// per-source CVSS data under "CVSS" ({"nvd": {"V3Score": 7.5, …}}).
	VendorAttributes map[string]any `json:"vendor_attributes,omitempty"`
}

// CVSS is the spec's CVSSDetails.
type CVSS struct {
	// ScoreV3 is the CVSS v3 base score, nil when unknown.
	ScoreV3 *float64 `json:"score_v3,omitempty"`
	// ScoreV2 is the CVSS v2 base score, nil when unknown.
	ScoreV2 *float64 `json:"score_v2,omitempty"`
	// VectorV3 is the CVSS v3 vector.
	VectorV3 string `json:"vector_v3,omitempty"`
	// VectorV2 is the CVSS v2 vector.
	VectorV2 string `json:"vector_v2,omitempty"`
}

// Score is a number the JSON may carry as a number or as a string; 0 means
// none.
type Score float64

// UnmarshalJSON accepts 7.5, "7.5", "" and null.
func (s *Score) UnmarshalJSON(b []byte) error {
	text := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if text == "" || text == "null" {
		*s = 0
		return nil
	}
	var f float64
	if err := json.Unmarshal([]byte(text), &f); err != nil {
		return fmt.Errorf("score %s: not a number", b)
	}
	*s = Score(f)
	return nil
}
