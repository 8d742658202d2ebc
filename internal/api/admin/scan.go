package admin

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scanner"
	"github.com/berth-registry/berth/internal/vuln"
)

// Scans and SBOMs. Reading a report or an SBOM needs pull on the
// repository, asking for a scan needs push; a repository the caller may
// not pull is answered as not found, so its existence does not leak. The
// routes answer 503 without Options.Scanner. Scan requests are audited as
// scan.request.

// Scanner serves the scan routes; *scanner.Service is one.
type Scanner interface {
	// Scan queues a scan of repo's reference (tag or digest) now, even if
	// scanned before, and returns the report as it stands (State queued).
	// ErrNotFound for an unknown repository/reference.
	Scan(ctx context.Context, repo, reference string) (*scanner.Report, error)
	// Report returns the report of repo's reference, with Result,
	// Allowlisted and Gate.
	Report(ctx context.Context, repo, reference string) (*scanner.Report, error)
	// SBOM returns the SBOM of repo's reference in format
	// (scanner.FormatCycloneDX or FormatSPDX) and its media type;
	// ErrNotFound when the artifact has no finished scan.
	SBOM(ctx context.Context, repo, reference, format string) ([]byte, string, error)
	// Invalidate drops cached policies and allowlists of project ("" only
	// the system-wide ones) after a change.
	Invalidate(project string)
}

var _ Scanner = (*scanner.Service)(nil)

// statusNotScanned is the status of an artifact nobody asked to scan.
const statusNotScanned = "not_scanned"

func (h *Handler) requestScan(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	var in wire.ScanRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	resource := "scan/" + in.Image
	project := ""
	if repo, _, err := registry.SplitReference(in.Image); err == nil {
		project = access.ProjectOf(repo)
	}
	defer func() { h.auditImmutability(ctx, p, "scan.request", project, &resource, "", err) }()
	repo, reference, err := h.scanTarget(ctx, p, in.Image, access.Push)
	if err != nil {
		return err
	}
	rep, err := h.opts.Scanner.Scan(ctx, repo, reference)
	if err != nil {
		return err
	}
	resource = "scan/" + repo + "@" + string(rep.Digest)
	return writeJSON(w, http.StatusAccepted, scanReportOut(rep))
}

func (h *Handler) getScan(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	repo, reference, err := h.scanTarget(r.Context(), p, r.URL.Query().Get("image"), access.Pull)
	if err != nil {
		return err
	}
	rep, err := h.opts.Scanner.Report(r.Context(), repo, reference)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, scanReportOut(rep))
}

func (h *Handler) getSBOM(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	format := r.URL.Query().Get("format")
	switch format {
	case "":
		format = scanner.FormatCycloneDX
	case scanner.FormatCycloneDX, scanner.FormatSPDX:
	default:
		return errdefs.Invalid("format=%q: want %s or %s", format, scanner.FormatCycloneDX, scanner.FormatSPDX)
	}
	repo, reference, err := h.scanTarget(r.Context(), p, r.URL.Query().Get("image"), access.Pull)
	if err != nil {
		return err
	}
	doc, mediaType, err := h.opts.Scanner.SBOM(r.Context(), repo, reference, format)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
	return nil
}

// scanTarget parses image ("repo:tag" or "repo@digest") and checks that p
// may pull it and, when action is Push, push to it. A repository p may not
// pull is ErrNotFound; one p may pull but not push to is ErrDenied.
func (h *Handler) scanTarget(ctx context.Context, p access.Principal, image string, action access.Action) (repo, reference string, err error) {
	if h.opts.Scanner == nil {
		return "", "", errdefs.Unavailable("this server was set up without scanning")
	}
	if image == "" {
		return "", "", errdefs.Invalid("name the image: repository:tag or repository@digest")
	}
	if repo, reference, err = registry.SplitReference(image); err != nil {
		return "", "", err
	}
	// Looking the project up first keeps Authorize from creating a
	// missing project for a push.
	if _, err := h.opts.Access.GetProject(ctx, p, access.ProjectOf(repo)); err != nil {
		if errdefs.IsNotFound(err) {
			return "", "", errdefs.NotFound("repository %s not found", repo)
		}
		return "", "", err
	}
	got, err := h.opts.Access.Authorize(ctx, p, repo, []access.Action{access.Pull, action})
	if err != nil {
		return "", "", err
	}
	switch {
	case !access.Has(got, access.Pull):
		return "", "", errdefs.NotFound("repository %s not found", repo)
	case !access.Has(got, action):
		return "", "", errdefs.Denied("%s may not %s %s; asking for a scan needs push on the repository", p, action, repo)
	}
	return repo, reference, nil
}

// scanReportOut is rep as the API shows it. DataGeneration is the
// generation the findings were matched at once a scan finished, the
// current one before.
func scanReportOut(rep *scanner.Report) wire.ScanReport {
	out := wire.ScanReport{
		Image: rep.Repository + "@" + string(rep.Digest), Repository: rep.Repository, Digest: string(rep.Digest),
		Status: statusNotScanned, DataGeneration: rep.DataGeneration, DataUpdatedAt: wire.Time(rep.DataUpdatedAt),
		DataStale: rep.DataStale, Summary: wire.ScanSummary{Worst: "NONE"},
		Vulnerabilities: []wire.Vulnerability{}, Findings: []wire.ScanFinding{},
		Gate: &wire.GateVerdict{Allowed: rep.Gate.Allowed, Reason: rep.Gate.Reason},
	}
	if st := rep.State; st != nil {
		out.Status, out.Scanner, out.Error = st.Status, st.Scanner, st.Error
		out.QueuedAt, out.StartedAt, out.FinishedAt = wire.Time(st.QueuedAt), wire.Time(st.StartedAt), wire.Time(st.FinishedAt)
		out.Summary = summaryOut(st.Summary)
		if !st.FinishedAt.IsZero() && st.Generation > 0 {
			out.DataGeneration = st.Generation
		}
	}
	if res := rep.Result; res != nil {
		for _, pl := range res.Platforms {
			out.Platforms = append(out.Platforms, wire.ScanPlatform{Manifest: pl.Manifest, Platform: pl.Platform, OS: pl.OS, Packages: pl.Packages})
		}
		for _, f := range res.Vulnerabilities {
			reason, allowed := rep.Allowlisted[f.ID]
			out.Vulnerabilities = append(out.Vulnerabilities, wire.Vulnerability{
				ID: f.ID, Aliases: f.Aliases, Severity: f.Severity.String(), CVSS: f.CVSS,
				Package: f.Package.Name, Ecosystem: f.Package.Ecosystem, Version: f.Package.Version,
				FixedVersion: f.FixedVersion, PURL: f.Package.PURL, Location: f.Package.Location, Summary: f.Summary,
				Allowlisted: allowed, AllowlistReason: reason,
			})
		}
		for _, f := range res.Findings {
			out.Findings = append(out.Findings, wire.ScanFinding{Kind: f.Kind, Rule: f.Rule, Severity: f.Severity.String(),
				Title: f.Title, Layer: f.Layer, Path: f.Path, Line: f.Line, Fingerprint: f.Fingerprint})
		}
	}
	return out
}

// summaryOut shows s; Worst is "NONE" without vulnerabilities.
func summaryOut(s meta.ScanSummary) wire.ScanSummary {
	out := wire.ScanSummary{Critical: s.Critical, High: s.High, Medium: s.Medium, Low: s.Low, Unknown: s.Unknown,
		Fixable: s.Fixable, Secrets: s.Secrets, Hygiene: s.Hygiene, Worst: "NONE"}
	if s.Critical+s.High+s.Medium+s.Low+s.Unknown > 0 {
		out.Worst = vuln.Severity(s.Worst).String()
	}
	return out
}

// Scan policies and vulnerability allowlists. Reading a project's policy
// or allowlist needs pull on the project, changing it manage-policies (as
// immutability rules do); the system-wide allowlist is read by any
// signed-in caller and changed by system administrators only. Changes are
// audited as scan-policy.set, allowlist.add and allowlist.remove and make
// the scanner forget its cached copies. These routes need only the store.

// unscannedChoices are what a gated pull of an unscanned artifact may get.
var unscannedChoices = []string{"allow", "deny", "wait"}

// maxWaitSeconds bounds how long a pull may wait for a scan.
const maxWaitSeconds = 600

func (h *Handler) getScanPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	project := r.PathValue("name")
	store, projectID, err := h.scanScope(r.Context(), p, project, access.Pull)
	if err != nil {
		return err
	}
	pol, err := store.GetScanPolicy(r.Context(), projectID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, scanPolicyOut(pol, project))
}

func (h *Handler) putScanPolicy(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	project := r.PathValue("name")
	var in wire.ScanPolicy
	resource, detail := "scan-policy", ""
	defer func() { h.auditImmutability(r.Context(), p, "scan-policy.set", project, &resource, detail, err) }()
	if err := decode(r, &in); err != nil {
		return err
	}
	detail = "scan on push " + strconv.FormatBool(in.ScanOnPush) + ", block " + orNone(in.BlockSeverity) +
		", unscanned " + in.Unscanned + " (wait " + strconv.Itoa(in.WaitSeconds) + "s)"
	pol, err := scanPolicyIn(in)
	if err != nil {
		return err
	}
	if in.Project != "" && in.Project != project {
		return errdefs.Invalid("the body names project %q but the path %q", in.Project, project)
	}
	store, projectID, err := h.scanScope(r.Context(), p, project, access.ManagePolicies)
	if err != nil {
		return err
	}
	pol.ProjectID, pol.UpdatedBy = projectID, p.Name
	if err := store.PutScanPolicy(r.Context(), pol); err != nil {
		return err
	}
	h.invalidateScans(project)
	return writeJSON(w, http.StatusOK, scanPolicyOut(pol, project))
}

// scanPolicyIn checks in and returns it as the store keeps it.
func scanPolicyIn(in wire.ScanPolicy) (*meta.ScanPolicy, error) {
	pol := &meta.ScanPolicy{ScanOnPush: in.ScanOnPush, Unscanned: in.Unscanned, WaitSeconds: in.WaitSeconds}
	switch upper := strings.ToUpper(strings.TrimSpace(in.BlockSeverity)); upper {
	case "", "NONE":
	case "LOW", "MEDIUM", "HIGH", "CRITICAL":
		sev, err := vuln.ParseSeverity(upper)
		if err != nil {
			return nil, err
		}
		pol.BlockSeverity = int(sev)
	default:
		return nil, errdefs.Invalid("block_severity %q: want LOW, MEDIUM, HIGH or CRITICAL, or NONE (or \"\") for no gate", in.BlockSeverity)
	}
	if !slices.Contains(unscannedChoices, in.Unscanned) {
		return nil, errdefs.Invalid("unscanned %q: want allow, deny or wait", in.Unscanned)
	}
	switch {
	case in.WaitSeconds < 0 || in.WaitSeconds > maxWaitSeconds:
		return nil, errdefs.Invalid("wait_seconds %d: want 0 to %d", in.WaitSeconds, maxWaitSeconds)
	case in.WaitSeconds > 0 && in.Unscanned != "wait":
		return nil, errdefs.Invalid("wait_seconds is only for unscanned \"wait\"")
	}
	return pol, nil
}

func scanPolicyOut(p *meta.ScanPolicy, project string) wire.ScanPolicy {
	block := "NONE"
	if p.BlockSeverity > 0 {
		block = vuln.Severity(p.BlockSeverity).String()
	}
	return wire.ScanPolicy{Project: project, ScanOnPush: p.ScanOnPush, BlockSeverity: block, Unscanned: p.Unscanned,
		WaitSeconds: p.WaitSeconds, UpdatedAt: wire.Time(p.UpdatedAt), UpdatedBy: p.UpdatedBy}
}

func (h *Handler) listSystemAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.listAllowlist(w, r, p, "")
}

func (h *Handler) listProjectAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.listAllowlist(w, r, p, r.PathValue("name"))
}

func (h *Handler) listAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal, project string) error {
	store, projectID, err := h.scanScope(r.Context(), p, project, access.Pull)
	if err != nil {
		return err
	}
	entries, err := store.ListAllowlist(r.Context(), projectID)
	if err != nil {
		return err
	}
	now := time.Now()
	out := wire.AllowlistList{Entries: make([]wire.AllowlistEntry, 0, len(entries))}
	for i := range entries {
		out.Entries = append(out.Entries, allowlistOut(&entries[i], project, now))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) addSystemAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.addAllowlist(w, r, p, "")
}

func (h *Handler) addProjectAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.addAllowlist(w, r, p, r.PathValue("name"))
}

func (h *Handler) addAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal, project string) (err error) {
	var in wire.AllowlistEntry
	resource, detail := "allowlist", ""
	defer func() { h.auditImmutability(r.Context(), p, "allowlist.add", project, &resource, detail, err) }()
	if err := decode(r, &in); err != nil {
		return err
	}
	in.ID = strings.TrimSpace(in.ID)
	resource, detail = "allowlist/"+in.ID, in.Reason
	now := time.Now()
	e, err := allowlistIn(in, project, now)
	if err != nil {
		return err
	}
	store, projectID, err := h.scanScope(r.Context(), p, project, access.ManagePolicies)
	if err != nil {
		return err
	}
	e.ProjectID, e.CreatedBy = projectID, p.Name
	if err := store.PutAllowlistEntry(r.Context(), e); err != nil {
		return err
	}
	h.invalidateScans(project)
	w.Header().Set("Location", allowlistPath(project)+"/"+url.PathEscape(e.VulnID))
	return writeJSON(w, http.StatusCreated, allowlistOut(e, project, now))
}

// allowlistIn checks a new entry of project and returns it as the store
// keeps it.
func allowlistIn(in wire.AllowlistEntry, project string, now time.Time) (*meta.AllowlistEntry, error) {
	switch {
	case in.ID == "":
		return nil, errdefs.Invalid("name the vulnerability: id (e.g. CVE-2024-3094 or GHSA-…)")
	case strings.ContainsAny(in.ID, "/ \t\r\n"):
		return nil, errdefs.Invalid("id %q: a vulnerability id has no spaces or slashes", in.ID)
	case strings.TrimSpace(in.Reason) == "":
		return nil, errdefs.Invalid("say why %s is acceptable: reason must not be empty", in.ID)
	case in.Project != "" && in.Project != project:
		return nil, errdefs.Invalid("the body names project %q but the path %q", in.Project, project)
	}
	expires, err := wire.ParseTime(in.ExpiresAt)
	if err != nil {
		return nil, errdefs.Invalid("expires_at %q: want an RFC 3339 time, or \"\" for never", in.ExpiresAt)
	}
	if !expires.IsZero() && !expires.After(now) {
		return nil, errdefs.Invalid("expires_at %s is not in the future", in.ExpiresAt)
	}
	return &meta.AllowlistEntry{VulnID: in.ID, Reason: strings.TrimSpace(in.Reason), ExpiresAt: expires}, nil
}

func (h *Handler) removeSystemAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.removeAllowlist(w, r, p, "")
}

func (h *Handler) removeProjectAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.removeAllowlist(w, r, p, r.PathValue("name"))
}

func (h *Handler) removeAllowlist(w http.ResponseWriter, r *http.Request, p access.Principal, project string) (err error) {
	id := r.PathValue("id")
	resource := "allowlist/" + id
	defer func() { h.auditImmutability(r.Context(), p, "allowlist.remove", project, &resource, "", err) }()
	store, projectID, err := h.scanScope(r.Context(), p, project, access.ManagePolicies)
	if err != nil {
		return err
	}
	if err := store.DeleteAllowlistEntry(r.Context(), projectID, id); err != nil {
		return err
	}
	h.invalidateScans(project)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func allowlistOut(e *meta.AllowlistEntry, project string, now time.Time) wire.AllowlistEntry {
	return wire.AllowlistEntry{Project: project, ID: e.VulnID, Reason: e.Reason, ExpiresAt: wire.Time(e.ExpiresAt),
		Expired: !e.ExpiresAt.IsZero() && !e.ExpiresAt.After(now), CreatedAt: wire.Time(e.CreatedAt), CreatedBy: e.CreatedBy}
}

// allowlistPath is the collection URL of project's allowlist ("" for the
// system-wide one).
func allowlistPath(project string) string {
	if project == "" {
		return "/api/v1/allowlist"
	}
	return "/api/v1/projects/" + project + "/allowlist"
}

// scanScope checks that p holds action on project ("" for the system-wide
// allowlist: any caller reads it, system administrators change it) and
// returns the store and the project's ID (0 for system-wide). A project p
// may not see is ErrNotFound, one it sees without the action ErrDenied.
func (h *Handler) scanScope(ctx context.Context, p access.Principal, project string, action access.Action) (meta.ScanStore, int64, error) {
	var store meta.ScanStore
	if s, ok := h.opts.Roles.(meta.Store); ok {
		store, _ = meta.ScanOf(s)
	}
	if store == nil {
		return nil, 0, errdefs.Unavailable("this server keeps no scan policies (its metadata store cannot)")
	}
	if project == "" {
		if action != access.Pull && p.Kind != access.System && !(p.Kind == access.UserKind && p.SysAdmin) {
			return nil, 0, errdefs.Denied("only a system administrator may change the system-wide allowlist")
		}
		return store, 0, nil
	}
	proj, err := h.opts.Access.GetProject(ctx, p, project)
	if err != nil {
		return nil, 0, err
	}
	granted, err := h.opts.Access.Authorize(ctx, p, project, []access.Action{action})
	if err != nil {
		return nil, 0, err
	}
	if !access.Has(granted, action) {
		return nil, 0, errdefs.Denied("%s may not %s in project %q; ask a project admin for a role that allows it", p, action, project)
	}
	return store, proj.ID, nil
}

// invalidateScans tells the scanner, if any, that project's policy or
// allowlist (or the system-wide one, for "") changed.
func (h *Handler) invalidateScans(project string) {
	if h.opts.Scanner != nil {
		h.opts.Scanner.Invalidate(project)
	}
}

func orNone(s string) string {
	if s == "" {
		return "NONE"
	}
	return s
}
