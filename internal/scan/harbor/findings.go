package harbor

import (
	"cmp"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/vuln"
)

// maxSummary bounds Finding.Summary, in runes.
const maxSummary = 200

// Findings converts the report's vulnerabilities into Berth's findings,
// worst first, then by id, package and version; an entry repeated for the
// same id, package and version (Trivy lists a library once per file it was
// found in) is kept once.
//
// Harbor reports name no ecosystem, so Package.Ecosystem is "". Severity
// comes from the report (Negligible counts as Low); when that is Unknown
// and a CVSS v3 score is known, from the score. CVSS is the v3 score from
// preferred_cvss, else from Trivy's vendor_attributes.CVSS (NVD first,
// then the highest other source), else from the v1.1 cve3_score. Summary
// is the description's first line, cut at 200 characters. When the id is
// not a CVE, the CVE ids its links name become Aliases.
func (r *Report) Findings() []vuln.Finding {
	type key struct{ id, name, version string }
	seen := make(map[key]bool, len(r.Vulnerabilities))
	out := make([]vuln.Finding, 0, len(r.Vulnerabilities))
	for _, v := range r.Vulnerabilities {
		id := strings.TrimSpace(v.ID)
		if id == "" {
			continue
		}
		k := key{id, v.Package, v.Version}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, v.finding(id))
	}
	slices.SortFunc(out, func(a, b vuln.Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Package.Name, b.Package.Name),
			cmp.Compare(a.Package.Version, b.Package.Version),
		)
	})
	return out
}

func (v *Vulnerability) finding(id string) vuln.Finding {
	f := vuln.Finding{
		ID:           id,
		Package:      vuln.Package{Name: v.Package, Version: v.Version},
		FixedVersion: strings.TrimSpace(v.FixVersion),
		CVSS:         v.cvss(),
		Summary:      summary(v.Description),
	}
	sev, err := vuln.ParseSeverity(v.Severity)
	if err != nil {
		sev = vuln.SeverityUnknown
	}
	if sev == vuln.SeverityUnknown {
		sev = vuln.SeverityFromCVSS(f.CVSS)
	}
	f.Severity = sev
	if !strings.HasPrefix(strings.ToUpper(id), "CVE-") {
		f.Aliases = cveAliases(v.Links, id)
	}
	return f
}

// cvss returns the best CVSS v3 base score the entry carries, 0 for none.
func (v *Vulnerability) cvss() float64 {
	if p := v.PreferredCVSS; p != nil && p.ScoreV3 != nil && validScore(*p.ScoreV3) {
		return *p.ScoreV3
	}
	if s := vendorCVSS(v.VendorAttributes); s > 0 {
		return s
	}
	if s := float64(v.CVSS3Score); validScore(s) {
		return s
	}
	return 0
}

// vendorCVSS reads Trivy's vendor_attributes {"CVSS": {source: {"V3Score":
// n, …}}}: the NVD score when there is one, else the highest.
func vendorCVSS(attrs map[string]any) float64 {
	sources, _ := attrs["CVSS"].(map[string]any)
	score := func(src any) float64 {
		m, _ := src.(map[string]any)
		s, _ := m["V3Score"].(float64)
		if !validScore(s) {
			return 0
		}
		return s
	}
	if s := score(sources["nvd"]); s > 0 {
		return s
	}
	var best float64
	for _, src := range sources {
		best = max(best, score(src))
	}
	return best
}

func validScore(s float64) bool { return s > 0 && s <= 10 }

// summary returns the first non-empty line of s, at most maxSummary runes.
func summary(s string) string {
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if utf8.RuneCountInString(line) <= maxSummary {
			return line
		}
		r := []rune(line)
		return strings.TrimSpace(string(r[:maxSummary-1])) + "…"
	}
	return ""
}

var cveRE = regexp.MustCompile(`(?i)\bCVE-\d{4}-\d{4,}\b`)

// cveAliases returns the CVE ids named in links, upper-cased, sorted and
// without duplicates or id itself.
func cveAliases(links []string, id string) []string {
	set := map[string]bool{}
	for _, l := range links {
		for _, m := range cveRE.FindAllString(l, -1) {
			if m = strings.ToUpper(m); !strings.EqualFold(m, id) {
				set[m] = true
			}
		}
	}
	if len(set) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(set))
}
