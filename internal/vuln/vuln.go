// Package vuln holds the types shared by Berth's vulnerability scanning: the
// packages an inventory lists (produced by internal/scan) and the findings
// that matching them against OSV data yields (produced by internal/vuln/match).
// It has no dependencies so that both sides can import it.
package vuln

import (
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
)

// Package is one installed package found in an image.
type Package struct {
	// Ecosystem is the OSV ecosystem name: "Debian:12", "Alpine:v3.20", "Go",
	// "npm", "PyPI", "Maven", "RubyGems", "crates.io", "Red Hat",
	// "AlmaLinux:9", "Rocky Linux:9", …
	Ecosystem string `json:"ecosystem"`
	// Name is the package name as the ecosystem spells it (for Maven
	// "group:artifact").
	Name string `json:"name"`
	// Version is the installed version in the ecosystem's own syntax.
	Version string `json:"version"`
	// PURL is the package URL.
	PURL string `json:"purl,omitempty"`
	// Location is the path in the image where the package was found.
	Location string `json:"location,omitempty"`
	// SourceName is, for OS packages, the source package OSV records are
	// keyed by (Debian); "" when it is the same as Name.
	SourceName string `json:"sourceName,omitempty"`
}

// Finding is one vulnerability that affects one installed package.
type Finding struct {
	// ID is the OSV id of the record that matched (e.g. "GHSA-…", "DSA-…").
	ID string `json:"id"`
	// Aliases are the other ids of the same vulnerability (CVE ids, and the
	// ids of other records merged into this finding), sorted.
	Aliases []string `json:"aliases,omitempty"`
	// Package is the installed package that is affected.
	Package Package `json:"package"`
	// FixedVersion is the lowest version that fixes it, "" when no fix is known.
	FixedVersion string `json:"fixedVersion,omitempty"`
	// Severity is the qualitative severity, SeverityUnknown when the data has none.
	Severity Severity `json:"severity"`
	// CVSS is the CVSS base score (0–10), 0 when the data has no vector.
	CVSS float64 `json:"cvss,omitempty"`
	// Summary is the record's one-line summary.
	Summary string `json:"summary,omitempty"`
}

// Severity is a qualitative vulnerability severity, ordered so that a larger
// value is worse: SeverityUnknown < SeverityLow < SeverityMedium <
// SeverityHigh < SeverityCritical.
type Severity int

// The severities, in increasing order.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// String returns the upper-case name ("LOW", "CRITICAL", …).
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, case-insensitively. It accepts the
// names String returns and the synonyms distributions use: "moderate" →
// medium, "important"/"major" → high, "negligible"/"minor" → low, and
// ""/"none"/"unimportant" → unknown. Anything else is an errdefs.ErrInvalid
// error.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "UNKNOWN", "NONE", "UNIMPORTANT", "NOT YET ASSIGNED":
		return SeverityUnknown, nil
	case "LOW", "NEGLIGIBLE", "MINOR":
		return SeverityLow, nil
	case "MEDIUM", "MODERATE":
		return SeverityMedium, nil
	case "HIGH", "IMPORTANT", "MAJOR":
		return SeverityHigh, nil
	case "CRITICAL":
		return SeverityCritical, nil
	}
	return SeverityUnknown, errdefs.Invalid("unknown severity %q", s)
}

// MarshalText writes the name, so JSON carries "HIGH" rather than 3.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name with ParseSeverity.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// SeverityFromCVSS maps a CVSS v3 base score to its qualitative rating
// (0 → unknown, 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10 critical).
func SeverityFromCVSS(score float64) Severity {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return SeverityUnknown
}

// IndexName returns name as vulnerability data is indexed by for
// ecosystem: PyPI names are normalized as PEP 503 says (lower case, runs of
// '-', '_' and '.' as one '-'); every other ecosystem compares names
// exactly, so they are returned unchanged.
func IndexName(ecosystem, name string) string {
	if ecosystem != "PyPI" {
		return name
	}
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			if !sep {
				b.WriteByte('-')
			}
			sep = true
			continue
		}
		sep = false
		b.WriteRune(r)
	}
	return b.String()
}
