// Package sarif writes an image's vulnerabilities as a SARIF 2.1.0 log
// that GitHub code scanning accepts: one rule per vulnerability id, one
// result per vulnerability of each package, each with a level, a location
// and a partial fingerprint that stays the same across scans of new builds
// of the image.
package sarif

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	gosarif "github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/berth-registry/berth/internal/vuln"
)

// FingerprintKey names the partial fingerprint of every result: a hash of
// the vulnerability id, the package's ecosystem and name and where it was
// found, so a rebuilt image still carrying the problem matches the open
// alert and one that fixed it closes it.
const FingerprintKey = "berthVulnerability/v1"

// Tool names the program that produced a log.
type Tool struct {
	// Name is the driver's name; "" means "Berth".
	Name string
	// Version is its version, "" when unknown.
	Version string
	// InformationURI is where to read about it, "" for none.
	InformationURI string
}

// Build returns the SARIF log of the vulnerabilities found in image (a
// reference such as "team/api@sha256:…", the location of findings whose
// package location is unknown). Findings keep their order; rules are in
// the order their ids first appear.
func Build(image string, findings []vuln.Finding, tool Tool) (*gosarif.Report, error) {
	report, err := gosarif.New(gosarif.Version210)
	if err != nil {
		return nil, fmt.Errorf("sarif: %w", err)
	}
	if tool.Name == "" {
		tool.Name = "Berth"
	}
	driver := &gosarif.ToolComponent{Name: tool.Name, Rules: []*gosarif.ReportingDescriptor{}}
	if tool.Version != "" {
		driver.Version = &tool.Version
	}
	if tool.InformationURI != "" {
		driver.InformationURI = &tool.InformationURI
	}
	run := gosarif.NewRun(gosarif.Tool{Driver: driver})
	// A rule is built from the first finding of its id; its help lists
	// every package the vulnerability affects.
	first := map[string]vuln.Finding{}
	fixes := map[string][]string{}
	var order []string
	for _, f := range findings {
		if _, ok := first[f.ID]; !ok {
			first[f.ID] = f
			order = append(order, f.ID)
		}
		fixes[f.ID] = append(fixes[f.ID], fixLine(f))
	}
	for _, id := range order {
		driver.Rules = append(driver.Rules, newRule(first[id], fixes[id]))
	}
	for _, f := range findings {
		run.AddResult(newResult(image, f))
	}
	report.AddRun(run)
	return report, nil
}

// Write writes the log of Build to w as indented JSON.
func Write(w io.Writer, image string, findings []vuln.Finding, tool Tool) error {
	report, err := Build(image, findings, tool)
	if err != nil {
		return err
	}
	if err := report.PrettyWrite(w); err != nil {
		return fmt.Errorf("write the SARIF log: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write the SARIF log: %w", err)
	}
	return nil
}

// Level is the SARIF level of a severity: error for critical and high,
// warning for medium, note for the rest.
func Level(s vuln.Severity) string {
	switch {
	case s >= vuln.SeverityHigh:
		return "error"
	case s == vuln.SeverityMedium:
		return "warning"
	}
	return "note"
}

// SecuritySeverity is the score GitHub ranks an alert by: the CVSS base
// score when known, else a score inside the band of the qualitative
// severity (critical 9.5, high 8.0, medium 5.5, low 2.0); "" when neither
// is known.
func SecuritySeverity(f vuln.Finding) string {
	score := f.CVSS
	if score <= 0 {
		score = map[vuln.Severity]float64{vuln.SeverityCritical: 9.5, vuln.SeverityHigh: 8.0,
			vuln.SeverityMedium: 5.5, vuln.SeverityLow: 2.0}[f.Severity]
	}
	if score <= 0 {
		return ""
	}
	return strconv.FormatFloat(score, 'f', 1, 64)
}

// Fingerprint is the FingerprintKey value of f.
func Fingerprint(f vuln.Finding) string {
	h := sha256.Sum256([]byte(strings.Join([]string{f.ID, f.Package.Ecosystem, f.Package.Name, f.Package.Location}, "\x00")))
	return hex.EncodeToString(h[:16])
}

// fixLine says how to fix f's package.
func fixLine(f vuln.Finding) string {
	fixed := "no fixed version is known"
	if f.FixedVersion != "" {
		fixed = "fixed in " + f.FixedVersion
	}
	return fmt.Sprintf("%s %s (%s): %s", f.Package.Name, f.Package.Version, f.Package.Ecosystem, fixed)
}

// newRule is the rule of f's vulnerability id, whose help lists fixes.
func newRule(f vuln.Finding, fixes []string) *gosarif.ReportingDescriptor {
	short := f.Summary
	if short == "" {
		short = f.ID + " in " + f.Package.Name
	}
	rule := gosarif.NewRule(f.ID).WithName(f.ID).WithShortDescription(gosarif.NewMultiformatMessageString(short))
	if len(f.Aliases) > 0 {
		rule.WithFullDescription(gosarif.NewMultiformatMessageString(short + " (also known as " + strings.Join(f.Aliases, ", ") + ")"))
	}
	// Findings come from OSV data, so osv.dev knows every id.
	rule.WithHelpURI("https://osv.dev/vulnerability/" + f.ID)
	text := f.ID + " (" + f.Severity.String() + "). Upgrade the affected packages:\n- " + strings.Join(fixes, "\n- ")
	md := "**" + f.ID + "** (" + f.Severity.String() + ")\n\nUpgrade the affected packages:\n\n- " + strings.Join(fixes, "\n- ")
	rule.WithHelp(&gosarif.MultiformatMessageString{Text: &text, Markdown: &md})
	props := gosarif.Properties{
		"tags":      []string{"security", "vulnerability", strings.ToLower(f.Severity.String())},
		"precision": "very-high",
	}
	if s := SecuritySeverity(f); s != "" {
		props["security-severity"] = s
	}
	rule.WithProperties(props)
	rule.WithDefaultConfiguration(&gosarif.ReportingConfiguration{Level: Level(f.Severity)})
	return rule
}

// newResult is the result of f: its message, level, location (the
// package's path in the image, else the image) and fingerprint.
func newResult(image string, f vuln.Finding) *gosarif.Result {
	msg := fmt.Sprintf("%s %s (%s) is affected by %s (%s)", f.Package.Name, f.Package.Version, f.Package.Ecosystem, f.ID, f.Severity)
	if f.FixedVersion != "" {
		msg += "; fixed in " + f.FixedVersion
	}
	if f.Summary != "" {
		msg += ": " + f.Summary
	}
	uri := strings.TrimPrefix(f.Package.Location, "/")
	if uri == "" {
		uri = image
	}
	loc := gosarif.NewPhysicalLocation().
		WithArtifactLocation(gosarif.NewSimpleArtifactLocation(uri)).
		WithRegion(gosarif.NewSimpleRegion(1, 1))
	res := gosarif.NewRuleResult(f.ID).WithLevel(Level(f.Severity)).
		WithMessage(gosarif.NewTextMessage(msg)).
		WithLocations([]*gosarif.Location{gosarif.NewLocationWithPhysicalLocation(loc).
			WithMessage(gosarif.NewTextMessage(image))})
	res.WithPartialFingerPrints(map[string]any{FingerprintKey: Fingerprint(f)})
	return res
}
