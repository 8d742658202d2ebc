package admin

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// Page sizes of the audit log.
const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
	// exportPage is how many events the export reads and writes at a time.
	exportPage = 1000
)

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	f, err := h.auditFilter(r)
	if err != nil {
		return err
	}
	if f.Limit == 0 {
		f.Limit = defaultAuditPage
	}
	events, err := h.auditPage(r.Context(), p, f)
	if err != nil {
		return err
	}
	out := wire.AuditList{Events: make([]wire.AuditEvent, 0, len(events))}
	for _, e := range events {
		out.Events = append(out.Events, auditOut(e))
	}
	if len(events) == f.Limit {
		out.Next = strconv.FormatInt(events[len(events)-1].ID, 10)
		q := r.URL.Query()
		q.Set("before", out.Next)
		next := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		w.Header().Set("Link", "<"+next.String()+`>; rel="next"`)
	}
	return writeJSON(w, http.StatusOK, out)
}

// exportAudit streams the events the filters select as JSON lines, newest
// first, a page at a time; limit= caps the total (default: every event).
func (h *Handler) exportAudit(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	f, err := h.auditFilter(r)
	if err != nil {
		return err
	}
	total := f.Limit
	page := func(f meta.AuditFilter, written int) meta.AuditFilter {
		f.Limit = exportPage
		if total > 0 {
			f.Limit = min(exportPage, total-written)
		}
		return f
	}
	ctx := r.Context()
	g := page(f, 0)
	events, err := h.auditPage(ctx, p, g)
	if err != nil {
		return err // nothing written yet: the caller gets a proper error
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Content-Disposition", `attachment; filename="berth-audit.jsonl"`)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	written := 0
	for {
		if err := audit.WriteJSONLines(w, events); err != nil {
			api.Logger(ctx).WarnContext(ctx, "audit export interrupted", "error", err)
			return nil
		}
		_ = rc.Flush()
		written += len(events)
		if len(events) < g.Limit || (total > 0 && written >= total) {
			return nil
		}
		f.BeforeID = events[len(events)-1].ID
		g = page(f, written)
		if events, err = h.auditPage(ctx, p, g); err != nil {
			// The status is sent; all we can do is cut the stream short.
			api.Logger(ctx).ErrorContext(ctx, "audit export failed", "error", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// auditFilter parses the filters of the audit routes. Limit stays 0 when
// limit= is absent.
func (h *Handler) auditFilter(r *http.Request) (meta.AuditFilter, error) {
	if h.opts.Audit == nil {
		return meta.AuditFilter{}, errdefs.Unavailable("the audit log is not configured")
	}
	q := r.URL.Query()
	f := meta.AuditFilter{
		Actor: q.Get("actor"), Action: q.Get("action"), Project: q.Get("project"),
		Outcome: q.Get("outcome"), Resource: q.Get("resource"),
	}
	var err error
	if f.Since, err = parseTime("since", q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return f, err
	}
	if s := q.Get("before"); s != "" {
		if f.BeforeID, err = strconv.ParseInt(s, 10, 64); err != nil || f.BeforeID < 1 {
			return f, errdefs.Invalid("before=%q: want the next cursor of a previous page", s)
		}
	}
	if q.Has("limit") {
		if f.Limit, err = pageLimit(r, defaultAuditPage, maxAuditPage); err != nil {
			return f, err
		}
	}
	return f, nil
}

// auditPage returns the events f selects that p may read: every event for
// a system administrator, otherwise only those of the projects where p may
// read the audit log (access.ReadAudit), newest first, at most f.Limit.
func (h *Handler) auditPage(ctx context.Context, p access.Principal, f meta.AuditFilter) ([]meta.AuditEvent, error) {
	if p.SysAdmin || p.Kind == access.System {
		return h.opts.Audit.List(ctx, f)
	}
	projects, err := h.auditProjects(ctx, p)
	if err != nil {
		return nil, err
	}
	if f.Project != "" {
		if !slices.Contains(projects, f.Project) {
			return nil, errdefs.Denied("you may not read the audit log of project %q", f.Project)
		}
		return h.opts.Audit.List(ctx, f)
	}
	if len(projects) == 0 {
		return nil, errdefs.Denied("you may read the audit log of no project (project admins and maintainers may)")
	}
	var all []meta.AuditEvent
	for _, project := range projects {
		g := f
		g.Project = project
		events, err := h.opts.Audit.List(ctx, g)
		if err != nil {
			return nil, err
		}
		all = append(all, events...)
	}
	// Each list is newest first and IDs grow with time, so the merged
	// page is the f.Limit highest IDs.
	slices.SortFunc(all, func(a, b meta.AuditEvent) int { return cmp.Compare(b.ID, a.ID) })
	if f.Limit > 0 && len(all) > f.Limit {
		all = all[:f.Limit]
	}
	return all, nil
}

// auditProjects returns the projects whose audit log p may read, as
// access decides it for the projects where p holds a role.
func (h *Handler) auditProjects(ctx context.Context, p access.Principal) ([]string, error) {
	if p.Kind != access.UserKind {
		return nil, nil // robots are never given access.ReadAudit
	}
	roles, err := h.rolesOf(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, pr := range roles {
		if slices.Contains(out, pr.Project) {
			continue
		}
		granted, err := h.opts.Access.Authorize(ctx, p, pr.Project, []access.Action{access.ReadAudit})
		if err != nil {
			return nil, err
		}
		if access.Has(granted, access.ReadAudit) {
			out = append(out, pr.Project)
		}
	}
	return out, nil
}
