package match

import (
	"encoding/json"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/berth-registry/berth/internal/vuln"
	"github.com/berth-registry/berth/internal/vuln/osv"
)

// rating is the severity and CVSS score the data gives for one affected
// entry of a record.
type rating struct {
	severity vuln.Severity
	cvss     float64
}

// rate reads the severity of affected entry a of record r. The CVSS score
// is the highest base score of the vectors the entry and the record carry
// (v3.x preferred, then v4.0, then v2). The severity is the source's own
// word when it gives one (database_specific.severity as GitHub does,
// ecosystem_specific or a severity entry of type Ubuntu), else the rating
// of the CVSS score.
func rate(r *osv.Record, a *osv.Affected) rating {
	sevs := append(append([]osv.Severity(nil), a.Severity...), r.Severity...)
	var out rating
	for _, pref := range []string{"CVSS_V3", "CVSS_V4", "CVSS_V2"} {
		for _, s := range sevs {
			if s.Type == pref {
				out.cvss = max(out.cvss, cvssScore(s.Score))
			}
		}
		if out.cvss > 0 {
			break
		}
	}
	out.severity = worded(a, r, sevs)
	if out.severity == vuln.SeverityUnknown {
		out.severity = vuln.SeverityFromCVSS(out.cvss)
	}
	return out
}

// worded returns the severity a source states in words, or Unknown.
func worded(a *osv.Affected, r *osv.Record, sevs []osv.Severity) vuln.Severity {
	worst := vuln.SeverityUnknown
	for _, raw := range []json.RawMessage{a.EcosystemSpecific, a.DatabaseSpecific, r.DatabaseSpecific} {
		worst = max(worst, severityField(raw))
	}
	for _, s := range sevs {
		if strings.EqualFold(s.Type, "Ubuntu") {
			if v, err := vuln.ParseSeverity(s.Score); err == nil {
				worst = max(worst, v)
			}
		}
	}
	return worst
}

// severityField reads a "severity" (or Ubuntu's "ubuntu_priority") string
// from a *_specific object; anything else is Unknown.
func severityField(raw json.RawMessage) vuln.Severity {
	if len(raw) == 0 || raw[0] != '{' {
		return vuln.SeverityUnknown
	}
	var f struct {
		Severity json.RawMessage `json:"severity"`
		Priority string          `json:"ubuntu_priority"`
	}
	if json.Unmarshal(raw, &f) != nil {
		return vuln.SeverityUnknown
	}
	var word string
	if json.Unmarshal(f.Severity, &word) != nil {
		word = f.Priority
	}
	v, err := vuln.ParseSeverity(word)
	if err != nil {
		return vuln.SeverityUnknown
	}
	return v
}

// cvssScore returns the base score of a CVSS vector (v2, v3.0, v3.1 or
// v4.0), or 0 if it cannot be read. It uses github.com/pandatix/go-cvss.
func cvssScore(vector string) float64 {
	vector = strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		if c, err := gocvss31.ParseVector(vector); err == nil {
			return c.BaseScore()
		}
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		if c, err := gocvss30.ParseVector(vector); err == nil {
			return c.BaseScore()
		}
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		if c, err := gocvss40.ParseVector(vector); err == nil {
			return c.Score()
		}
	case strings.HasPrefix(vector, "AV:"):
		if c, err := gocvss20.ParseVector(vector); err == nil {
			return c.BaseScore()
		}
	}
	return 0
}
