package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/client"
	"github.com/berth-registry/berth/internal/scan/sarif"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/spf13/cobra"
)

// Scanning commands: scan, vulns, sbom, scan-policy and allowlist.

// scanPoll is how often `berth scan --wait` asks whether the scan ended.
var scanPoll = time.Second

// exitVulnerable is the exit code of `berth vulns --fail-on` when a
// vulnerability at or above the threshold is present.
const exitVulnerable = 3

// finalScan reports whether a scan status is one a scan ends in.
func finalScan(status string) bool {
	return status == "done" || status == "failed" || status == "unsupported"
}

func newScanCommand() *cobra.Command {
	var (
		r    *remote
		wait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "scan IMAGE [--wait DURATION]",
		Short: "Scan an image now, even if it was scanned before",
		Long: `Queue a scan of IMAGE (repository:tag or repository@digest) now; asking needs
push on the repository. With --wait, wait up to DURATION for the scan to end
and print its summary; a scan that does not end in time exits 1 (it goes on in
the server). "berth vulns IMAGE" shows the findings.`,
		Example: `  berth scan platform/api:v1.4.0 --wait 5m
  berth scan platform/api@sha256:4f2a... -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wait < 0 {
				return &exitError{code: 2, err: errors.New("--wait: want a positive duration")}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			rep, err := c.RequestScan(ctx, args[0])
			if err != nil {
				return err
			}
			if wait > 0 {
				if rep, err = waitScan(ctx, c, rep, wait); err != nil {
					return err
				}
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), scanSummaryLine(rep)); err != nil {
				return err
			}
			if rep.Status == "failed" {
				return fmt.Errorf("the scan of %s failed: %s", rep.Image, rep.Error)
			}
			return nil
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the scan to end (e.g. 5m)")
	return cmd
}

// waitScan polls the report of rep's image through c until its scan
// ends or d passes.
func waitScan(ctx context.Context, c *client.Client, rep *wire.ScanReport, d time.Duration) (*wire.ScanReport, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(scanPoll)
	defer tick.Stop()
	for !finalScan(rep.Status) {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the scan of %s did not end within %s (it is %s; the server goes on with it)", rep.Image, d, rep.Status)
		case <-tick.C:
		}
		next, err := c.ScanReport(ctx, rep.Image)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return nil, err
		}
		rep = next
	}
	return rep, nil
}

// scanSummaryLine says in one line where rep's scan stands and what it
// found.
func scanSummaryLine(rep *wire.ScanReport) string {
	switch rep.Status {
	case "not_scanned":
		return rep.Image + ": not scanned"
	case "queued", "running":
		return rep.Image + ": " + rep.Status
	case "failed":
		return rep.Image + ": failed: " + rep.Error
	case "unsupported":
		return rep.Image + ": unsupported (not an image a scanner can read)"
	}
	s := rep.Summary
	total := s.Critical + s.High + s.Medium + s.Low + s.Unknown
	return fmt.Sprintf("%s: %s, %s (critical %d, high %d, medium %d, low %d, unknown %d; %d fixable), %s, %s; worst %s",
		rep.Image, rep.Status, plural(total, "vulnerability", "vulnerabilities"), s.Critical, s.High, s.Medium, s.Low, s.Unknown,
		s.Fixable, plural(s.Secrets, "secret", "secrets"), plural(s.Hygiene, "hygiene finding", "hygiene findings"), s.Worst)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

func newVulnsCommand() *cobra.Command {
	var (
		r               *remote
		minimum, failOn string
	)
	cmd := &cobra.Command{
		Use:   "vulns IMAGE [-o table|json|sarif] [--severity MIN] [--fail-on SEVERITY]",
		Short: "Show the vulnerabilities and other findings of an image's latest scan",
		Long: `Show the vulnerabilities of IMAGE (repository:tag or repository@digest) found by
its latest scan, with a summary, the age of the vulnerability data, and the
secrets and hygiene findings; reading needs pull on the repository.

-o json prints the report as the API returns it; -o sarif prints a SARIF 2.1.0
log for GitHub code scanning (one rule per vulnerability, one result per
vulnerable package). --severity hides vulnerabilities below MIN (LOW, MEDIUM,
HIGH or CRITICAL) in every format.

Exit codes: 0 on success; 3 with --fail-on SEVERITY when the image has a
vulnerability at or above SEVERITY that no allowlist exempts; 1 on errors,
including --fail-on for an image without a finished scan; 2 on usage errors.`,
		Example: `  berth vulns platform/api:v1.4.0
  berth vulns platform/api:v1.4.0 --severity HIGH --fail-on CRITICAL
  berth vulns platform/api:v1.4.0 -o sarif > berth.sarif`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			minSev, err := severityFlag("--severity", minimum)
			if err != nil {
				return err
			}
			failSev, err := severityFlag("--fail-on", failOn)
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			rep, err := c.ScanReport(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			shown := *rep
			shown.Vulnerabilities = filterVulns(rep.Vulnerabilities, minSev)
			if err := printVulns(cmd.OutOrStdout(), r.output, &shown); err != nil {
				return err
			}
			if failOn == "" {
				return nil
			}
			return failOnCheck(rep, failSev)
		},
	}
	r = addRemoteFlags(cmd, "table", "json", "sarif")
	cmd.Flags().StringVar(&minimum, "severity", "", "show only vulnerabilities at or above this severity (LOW, MEDIUM, HIGH, CRITICAL)")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit 3 when a vulnerability at or above this severity is not allowlisted")
	return cmd
}

// severityFlag parses a severity flag; "" is no threshold.
func severityFlag(name, s string) (vuln.Severity, error) {
	switch strings.ToUpper(s) {
	case "":
		return vuln.SeverityUnknown, nil
	case "LOW", "MEDIUM", "HIGH", "CRITICAL":
		return vuln.ParseSeverity(s)
	}
	return 0, &exitError{code: 2, err: fmt.Errorf("%s %q: want LOW, MEDIUM, HIGH or CRITICAL", name, s)}
}

// severityOf reads a severity the API sent; an unknown name is unknown.
func severityOf(s string) vuln.Severity {
	sev, _ := vuln.ParseSeverity(s)
	return sev
}

// filterVulns returns the vulnerabilities at or above minimum.
func filterVulns(vs []wire.Vulnerability, minimum vuln.Severity) []wire.Vulnerability {
	out := []wire.Vulnerability{}
	for _, v := range vs {
		if severityOf(v.Severity) >= minimum {
			out = append(out, v)
		}
	}
	return out
}

// failOnCheck is the --fail-on verdict on rep: exit 3 for a vulnerability
// at or above threshold that is not allowlisted.
func failOnCheck(rep *wire.ScanReport, threshold vuln.Severity) error {
	if rep.FinishedAt == "" {
		return fmt.Errorf("%s has no finished scan (status %s); run 'berth scan %s --wait 5m' first", rep.Image, rep.Status, rep.Image)
	}
	var ids []string
	for _, v := range rep.Vulnerabilities {
		if !v.Allowlisted && severityOf(v.Severity) >= threshold {
			ids = append(ids, v.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > 5 {
		ids = append(ids[:5], "…")
	}
	return &exitError{code: exitVulnerable, err: fmt.Errorf("%s has %s at or above %s: %s", rep.Image,
		plural(int64(len(ids)), "vulnerability", "vulnerabilities"), threshold, strings.Join(ids, ", "))}
}

// printVulns writes rep in format: table, json or sarif.
func printVulns(w io.Writer, format string, rep *wire.ScanReport) error {
	switch format {
	case "json":
		return printJSON(w, rep)
	case "sarif":
		return sarif.Write(w, rep.Image, sarifFindings(rep.Vulnerabilities), sarif.Tool{Name: "Berth", Version: Version})
	}
	return printVulnTable(w, rep)
}

// sarifFindings turns the API's vulnerabilities back into findings.
func sarifFindings(vs []wire.Vulnerability) []vuln.Finding {
	out := make([]vuln.Finding, 0, len(vs))
	for _, v := range vs {
		out = append(out, vuln.Finding{ID: v.ID, Aliases: v.Aliases, Severity: severityOf(v.Severity), CVSS: v.CVSS,
			FixedVersion: v.FixedVersion, Summary: v.Summary,
			Package: vuln.Package{Ecosystem: v.Ecosystem, Name: v.Package, Version: v.Version, PURL: v.PURL, Location: v.Location}})
	}
	return out
}

// summaryWidth is where the table cuts a vulnerability's summary.
const summaryWidth = 60

// printVulnTable writes one row per vulnerability, the summary line, the
// data's age and the pull gate's verdict, then the other findings.
func printVulnTable(w io.Writer, rep *wire.ScanReport) error {
	if len(rep.Vulnerabilities) > 0 {
		rows := make([][]string, 0, len(rep.Vulnerabilities))
		for _, v := range rep.Vulnerabilities {
			summary := v.Summary
			if v.Allowlisted {
				summary = "[allowlisted: " + v.AllowlistReason + "] " + summary
			}
			rows = append(rows, []string{v.ID, v.Severity, v.Package, v.Version, v.FixedVersion, truncate(summary, summaryWidth)})
		}
		if err := printTable(w, []string{"ID", "SEVERITY", "PACKAGE", "INSTALLED", "FIXED", "SUMMARY"}, rows); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, scanSummaryLine(rep))
	data := "Vulnerability data: generation " + strconv.FormatInt(rep.DataGeneration, 10)
	if rep.DataUpdatedAt != "" {
		data += ", newest record " + rep.DataUpdatedAt
	}
	fmt.Fprintln(w, data)
	if rep.DataStale {
		fmt.Fprintln(w, "WARNING: the vulnerability data is stale (older than scan.max_db_age, or never imported); recent vulnerabilities may be missing")
	}
	if g := rep.Gate; g != nil {
		if g.Allowed {
			fmt.Fprintln(w, "Pull gate: allowed")
		} else {
			fmt.Fprintln(w, "Pull gate: denied: "+g.Reason)
		}
	}
	if len(rep.Findings) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		where := f.Path
		if where != "" && f.Line > 0 {
			where += ":" + strconv.Itoa(f.Line)
		}
		rows = append(rows, []string{f.Kind, f.Rule, f.Severity, where, truncate(f.Title, summaryWidth), f.Fingerprint})
	}
	return printTable(w, []string{"KIND", "RULE", "SEVERITY", "PATH", "TITLE", "FINGERPRINT"}, rows)
}

// truncate cuts s to at most n characters, ending with "…" when cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func newSBOMCommand() *cobra.Command {
	var (
		r              *remote
		format, output string
	)
	cmd := &cobra.Command{
		Use:   "sbom IMAGE [--format cyclonedx|spdx] [--output FILE]",
		Short: "Download the SBOM of a scanned image",
		Long: `Download the software bill of materials of IMAGE (repository:tag or
repository@digest) that its latest built-in scan made: CycloneDX 1.6 JSON (the
default) or SPDX 2.3 JSON. It is the document the scan pushed as a referrer of
the image. Reading needs pull on the repository; an image without a finished
scan has none.`,
		Example: `  berth sbom platform/api:v1.4.0 > api.cdx.json
  berth sbom platform/api:v1.4.0 --format spdx --output api.spdx.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "cyclonedx" && format != "spdx" {
				return &exitError{code: 2, err: fmt.Errorf("--format %q: want cyclonedx or spdx", format)}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			doc, _, err := c.SBOM(cmd.Context(), args[0], format)
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(doc)
				return err
			}
			if err := os.WriteFile(output, doc, 0o644); err != nil {
				return fmt.Errorf("write the SBOM: %w", err)
			}
			_, err = fmt.Fprintf(cmd.ErrOrStderr(), "Wrote the %s SBOM of %s to %s (%d bytes)\n", format, args[0], output, len(doc))
			return err
		},
	}
	// --output names the file here, not an output format, so only
	// --server of the remote flags is bound.
	r = &remote{formats: []string{"table"}, output: "table"}
	cmd.Flags().StringVar(&r.server, "server", "", "server to talk to (default: the one of the last berth login)")
	cmd.Flags().StringVar(&format, "format", "cyclonedx", "cyclonedx or spdx")
	cmd.Flags().StringVar(&output, "output", "", "write the SBOM to this file (default: standard output)")
	return cmd
}

func newScanPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scan-policy",
		Short: "Show and set a project's scan policy and pull gate",
		Long: `Show and set a project's scan policy: whether pushes are scanned (off until
turned on with --scan-on-push), and the pull gate. With --block-severity S a pull of an artifact with a vulnerability at or
above S (LOW, MEDIUM, HIGH, CRITICAL) that no allowlist exempts is refused;
NONE turns the gate off. --unscanned says what a gated pull of an artifact
without a finished scan gets: allow, deny, or wait up to --wait-seconds (at
most 600) for the scan, then deny. Setting needs manage-policies on the
project; anyone who may pull may read it.`,
		Example: `  berth scan-policy set platform --block-severity CRITICAL --unscanned wait --wait-seconds 120
  berth scan-policy get platform`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newScanPolicyGetCommand(), newScanPolicySetCommand())
	return cmd
}

func printScanPolicy(w io.Writer, format string, p *wire.ScanPolicy) error {
	if format == "json" {
		return printJSON(w, p)
	}
	wait := ""
	if p.Unscanned == "wait" {
		wait = strconv.Itoa(p.WaitSeconds) + "s"
	}
	return printTable(w, []string{"PROJECT", "SCAN ON PUSH", "BLOCK", "UNSCANNED", "WAIT", "UPDATED", "BY"},
		[][]string{{p.Project, yesNo(p.ScanOnPush), p.BlockSeverity, p.Unscanned, wait, p.UpdatedAt, p.UpdatedBy}})
}

func newScanPolicyGetCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "get PROJECT",
		Short:   "Show a project's scan policy",
		Example: `  berth scan-policy get platform -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			p, err := c.GetScanPolicy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printScanPolicy(cmd.OutOrStdout(), r.output, p)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newScanPolicySetCommand() *cobra.Command {
	var (
		r          *remote
		scanOnPush bool
		block      string
		unscanned  string
		waitSecs   int
	)
	cmd := &cobra.Command{
		Use:   "set PROJECT [--scan-on-push] [--block-severity S] [--unscanned allow|deny|wait] [--wait-seconds N]",
		Short: "Change a project's scan policy; flags not given keep their value",
		Example: `  berth scan-policy set platform --scan-on-push --block-severity HIGH
  berth scan-policy set platform --scan-on-push=false --block-severity NONE`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p, err := c.GetScanPolicy(ctx, args[0])
			if err != nil {
				return err
			}
			flags := cmd.Flags()
			if flags.Changed("scan-on-push") {
				p.ScanOnPush = scanOnPush
			}
			if flags.Changed("block-severity") {
				p.BlockSeverity = strings.ToUpper(block)
			}
			if flags.Changed("unscanned") {
				p.Unscanned = unscanned
				if unscanned != "wait" {
					p.WaitSeconds = 0
				}
			}
			if flags.Changed("wait-seconds") {
				p.WaitSeconds = waitSecs
			}
			p.UpdatedAt, p.UpdatedBy = "", ""
			if p, err = c.SetScanPolicy(ctx, args[0], *p); err != nil {
				return err
			}
			return printScanPolicy(cmd.OutOrStdout(), r.output, p)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().BoolVar(&scanOnPush, "scan-on-push", false, "scan every manifest pushed to the project (--scan-on-push=false stops it)")
	cmd.Flags().StringVar(&block, "block-severity", "", "refuse pulls with a vulnerability at or above LOW, MEDIUM, HIGH or CRITICAL; NONE: no gate")
	cmd.Flags().StringVar(&unscanned, "unscanned", "", "a gated pull of an unscanned artifact: allow, deny or wait")
	cmd.Flags().IntVar(&waitSecs, "wait-seconds", 0, "with --unscanned wait: how long a pull waits for the scan (at most 600)")
	return cmd
}

func newAllowlistCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "allowlist",
		Short: "Manage the vulnerability allowlists of the pull gate",
		Long: `Manage vulnerability allowlists: an entry exempts a vulnerability id (or any of
its aliases) from the pull gate, with a reason, until it expires. With
--project the commands act on the project's list (reading needs pull,
changing manage-policies); without, on the system-wide list, which applies to
every project (any signed-in user reads it, system administrators change it).
--expires takes a duration from now (720h, 30d, 2w), a date (2026-12-31, at
00:00 UTC) or an RFC 3339 time; without it (or with never) the entry never
expires.`,
		Example: `  berth allowlist add --project platform CVE-2024-3094 --reason "xz not in the runtime path" --expires 30d
  berth allowlist list --project platform
  berth allowlist remove --project platform CVE-2024-3094`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newAllowlistListCommand(), newAllowlistAddCommand(), newAllowlistRemoveCommand())
	return cmd
}

func printAllowlist(w io.Writer, format string, entries []wire.AllowlistEntry) error {
	if format == "json" {
		return printJSON(w, entries)
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		expires := e.ExpiresAt
		if expires == "" {
			expires = "never"
		}
		rows = append(rows, []string{e.ID, e.Reason, expires, yesNo(e.Expired), e.CreatedBy})
	}
	return printTable(w, []string{"ID", "REASON", "EXPIRES", "EXPIRED", "CREATED BY"}, rows)
}

func newAllowlistListCommand() *cobra.Command {
	var (
		r       *remote
		project string
	)
	cmd := &cobra.Command{
		Use:     "list [--project PROJECT]",
		Short:   "List a project's allowlist, or the system-wide one",
		Example: `  berth allowlist list --project platform`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			entries, err := c.ListAllowlist(cmd.Context(), project)
			if err != nil {
				return err
			}
			return printAllowlist(cmd.OutOrStdout(), r.output, entries)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&project, "project", "", "the project (default: the system-wide list)")
	return cmd
}

func newAllowlistAddCommand() *cobra.Command {
	var (
		r                        *remote
		project, reason, expires string
	)
	cmd := &cobra.Command{
		Use:     "add ID --reason REASON [--expires 720h|30d|2026-12-31|RFC3339] [--project PROJECT]",
		Short:   "Exempt a vulnerability from the pull gate (replaces an entry of the same id)",
		Example: `  berth allowlist add CVE-2023-4863 --reason "no webp decoding" --expires 2026-12-31`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := allowlistExpiry(expires, now(cmd.Context()))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			in := wire.AllowlistEntry{ID: args[0], Reason: reason, ExpiresAt: wire.Time(at)}
			e, err := c.AddAllowlistEntry(cmd.Context(), project, in)
			if err != nil {
				return err
			}
			return printAllowlist(cmd.OutOrStdout(), r.output, []wire.AllowlistEntry{*e})
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&project, "project", "", "the project (default: the system-wide list)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the vulnerability is acceptable (required)")
	cmd.Flags().StringVar(&expires, "expires", "", "when the entry stops applying: 720h, 30d, 2026-12-31 or an RFC 3339 time (default: never)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

// allowlistExpiry reads --expires as robots' --expires does (a duration
// from now such as 720h, 30d or 2w, an RFC 3339 time, or never), and also
// takes a date (at 00:00 UTC).
func allowlistExpiry(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return parseExpiry(s, now)
}

func newAllowlistRemoveCommand() *cobra.Command {
	var (
		r       *remote
		project string
	)
	cmd := &cobra.Command{
		Use:     "remove ID [--project PROJECT]",
		Short:   "Remove an entry from an allowlist",
		Example: `  berth allowlist remove --project platform CVE-2023-4863`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.RemoveAllowlistEntry(cmd.Context(), project, args[0]); err != nil {
				return err
			}
			where := "the system-wide allowlist"
			if project != "" {
				where = "the allowlist of project " + project
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed %s from %s\n", args[0], where)
			return err
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&project, "project", "", "the project (default: the system-wide list)")
	return cmd
}
