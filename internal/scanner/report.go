package scanner

import (
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/opencontainers/go-digest"
)

// Result is the stored result of one scan (meta.ScanReport.Report, JSON):
// the platforms scanned, every vulnerability finding and the findings
// beyond vulnerabilities.
type Result struct {
	Platforms []Platform `json:"platforms"`
	// Vulnerabilities are sorted worst first, then by id and package; a
	// vulnerability of a package found in several platforms is listed once.
	Vulnerabilities []vuln.Finding `json:"vulnerabilities"`
	// Findings are secrets and hygiene findings.
	Findings []scan.Finding `json:"findings"`
}

// Platform is one scanned image of a result.
type Platform struct {
	// Manifest is the image manifest's digest.
	Manifest string `json:"manifest"`
	// Platform is "os/arch[/variant]", "" when unknown.
	Platform string `json:"platform,omitempty"`
	// OS is the distribution ("debian 12"), "" when unknown.
	OS string `json:"os,omitempty"`
	// Packages counts the packages found.
	Packages int `json:"packages"`
}

// Report is what Service.Report tells about one artifact.
type Report struct {
	Repository string
	Digest     digest.Digest
	// State is the stored scan state (without its data); nil when no scan
	// was ever asked for.
	State *meta.ScanReport
	// Result is the latest result, nil before the first finished scan.
	Result *Result
	// Allowlisted maps the ids of Result.Vulnerabilities that a valid
	// allowlist entry (of the project or system-wide) exempts from the gate
	// to that entry's reason.
	Allowlisted map[string]string
	// Gate is what the project's pull gate decides now.
	Gate Verdict
	// DataGeneration is the current vulnerability data generation,
	// DataUpdatedAt the newest record's modification time over every
	// source, DataStale whether that is older than scan.max_db_age.
	DataGeneration int64
	DataUpdatedAt  time.Time
	DataStale      bool
}

// Verdict is a pull gate decision.
type Verdict struct {
	Allowed bool
	// Reason explains a denial, as the pull's DENIED message says it.
	Reason string
}

// SBOM formats Service.SBOM serves.
const (
	FormatCycloneDX = "cyclonedx"
	FormatSPDX      = "spdx"
)
