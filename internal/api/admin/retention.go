package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/retention/run"
	"github.com/opencontainers/go-digest"
)

// Retention policies, runs, reports and the trash. Changing the policy,
// starting a run and restoring from the trash need manage-policies on the
// project; reading the policy, runs, reports and trash needs pull. Policy
// changes, runs started and restores are audited as retention.set,
// retention.delete, retention.run and retention.restore.

// retentionScope returns the retention service after checking that p sees
// project and holds action in it.
func (h *Handler) retentionScope(ctx context.Context, p access.Principal, project string, action access.Action) (*run.Service, error) {
	svc := h.opts.Retention
	if svc == nil {
		return nil, errdefs.Unavailable("this server runs no retention policies (its metadata store cannot keep them)")
	}
	if _, err := h.opts.Access.GetProject(ctx, p, project); err != nil {
		return nil, err
	}
	granted, err := h.opts.Access.Authorize(ctx, p, project, []access.Action{action})
	if err != nil {
		return nil, err
	}
	if !access.Has(granted, action) {
		return nil, errdefs.Denied("%s may not %s in project %q; ask a project admin for a role that allows it", p, action, project)
	}
	return svc, nil
}

// auditRetention records a retention change whose result is err.
func (h *Handler) auditRetention(ctx context.Context, p access.Principal, action, project, resource, detail string, err error) {
	if h.opts.Audit == nil {
		return
	}
	e := meta.AuditEvent{ActorKind: string(p.Kind), Actor: p.Name, Action: action, Project: project,
		Resource: resource, Outcome: "success", Detail: detail}
	if err != nil {
		e.Outcome = "failure"
		if errdefs.IsDenied(err) {
			e.Outcome = "denied"
		}
		e.Detail = err.Error()
	}
	h.opts.Audit.Record(ctx, e)
}

func (h *Handler) getRetention(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	svc, err := h.retentionScope(r.Context(), p, r.PathValue("name"), access.Pull)
	if err != nil {
		return err
	}
	pol, err := svc.GetPolicy(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, retentionPolicyOut(pol))
}

func (h *Handler) putRetention(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	project := r.PathValue("name")
	var in wire.RetentionPolicy
	detail := ""
	defer func() { h.auditRetention(r.Context(), p, "retention.set", project, "retention", detail, err) }()
	if err := decode(r, &in); err != nil {
		return err
	}
	detail = fmt.Sprintf("schedule %q, enabled %t", in.Schedule, in.Enabled)
	svc, err := h.retentionScope(r.Context(), p, project, access.ManagePolicies)
	if err != nil {
		return err
	}
	pol, err := svc.PutPolicy(r.Context(), project, run.PolicyInput{Policy: in.Policy, Schedule: in.Schedule,
		Enabled: in.Enabled, By: p.Name})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, retentionPolicyOut(pol))
}

func (h *Handler) deleteRetention(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	project := r.PathValue("name")
	defer func() { h.auditRetention(r.Context(), p, "retention.delete", project, "retention", "", err) }()
	svc, err := h.retentionScope(r.Context(), p, project, access.ManagePolicies)
	if err != nil {
		return err
	}
	if err := svc.DeletePolicy(r.Context(), project); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) startRetentionRun(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	project := r.PathValue("name")
	var in wire.NewRetentionRun
	resource := "retention/runs"
	defer func() {
		h.auditRetention(r.Context(), p, "retention.run", project, resource, fmt.Sprintf("dry run %t", in.DryRun), err)
	}()
	if err := decode(r, &in); err != nil {
		return err
	}
	svc, err := h.retentionScope(r.Context(), p, project, access.ManagePolicies)
	if err != nil {
		return err
	}
	rn, err := svc.Start(r.Context(), project, in.DryRun, run.TriggerManual, p.Name)
	if err != nil {
		return err
	}
	resource = "retention/runs/" + strconv.FormatInt(rn.ID, 10)
	w.Header().Set("Location", "/api/v1/projects/"+project+"/"+resource)
	return writeJSON(w, http.StatusAccepted, retentionRunOut(rn, project))
}

func (h *Handler) listRetentionRuns(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	project := r.PathValue("name")
	svc, err := h.retentionScope(r.Context(), p, project, access.Pull)
	if err != nil {
		return err
	}
	limit, err := pageLimit(r, 50, 1000)
	if err != nil {
		return err
	}
	runs, err := svc.Runs(r.Context(), project, 0, limit)
	if err != nil {
		return err
	}
	out := wire.RetentionRunList{Runs: make([]wire.RetentionRun, 0, len(runs))}
	for i := range runs {
		out.Runs = append(out.Runs, retentionRunOut(&runs[i], project))
	}
	return writeJSON(w, http.StatusOK, out)
}

// runID parses the {id} of a run path.
func runID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errdefs.NotFound("retention run %q not found", r.PathValue("id"))
	}
	return id, nil
}

func (h *Handler) getRetentionRun(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	project := r.PathValue("name")
	svc, err := h.retentionScope(r.Context(), p, project, access.Pull)
	if err != nil {
		return err
	}
	id, err := runID(r)
	if err != nil {
		return err
	}
	rn, err := svc.GetRun(r.Context(), project, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, retentionRunOut(rn, project))
}

// getRetentionReport serves a page of a run's report (after=, limit=).
func (h *Handler) getRetentionReport(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	project := r.PathValue("name")
	svc, err := h.retentionScope(r.Context(), p, project, access.Pull)
	if err != nil {
		return err
	}
	id, err := runID(r)
	if err != nil {
		return err
	}
	limit, err := pageLimit(r, 1000, 10000)
	if err != nil {
		return err
	}
	after, err := int64Param(r, "after")
	if err != nil {
		return err
	}
	lines, err := svc.Report(r.Context(), project, id, after, limit)
	if err != nil {
		return err
	}
	out := wire.RetentionReport{Decisions: make([]wire.RetentionDecision, 0, len(lines))}
	for _, l := range lines {
		out.Decisions = append(out.Decisions, wire.RetentionDecision{Seq: l.Seq, Repository: l.Repository,
			Tag: l.Tag, Digest: string(l.Digest), Rule: l.Rule, Reason: l.Reason, Outcome: l.Outcome})
	}
	if len(lines) == limit {
		out.Next = lines[len(lines)-1].Seq
	}
	return writeJSON(w, http.StatusOK, out)
}

// int64Param parses an optional non-negative integer query parameter.
func int64Param(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errdefs.Invalid("%s=%q: want a non-negative number", name, s)
	}
	return n, nil
}

// listRetentionTrash serves a page of the trash (before=, limit=).
func (h *Handler) listRetentionTrash(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	project := r.PathValue("name")
	svc, err := h.retentionScope(r.Context(), p, project, access.Pull)
	if err != nil {
		return err
	}
	limit, err := pageLimit(r, 1000, 10000)
	if err != nil {
		return err
	}
	before, err := int64Param(r, "before")
	if err != nil {
		return err
	}
	rows, err := svc.Trash(r.Context(), project, before, limit)
	if err != nil {
		return err
	}
	out := wire.TrashList{Entries: make([]wire.TrashEntry, 0, len(rows))}
	for i := range rows {
		out.Entries = append(out.Entries, trashOut(&rows[i]))
	}
	if len(rows) == limit {
		out.Next = rows[len(rows)-1].ID
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) restoreRetentionTrash(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	project := r.PathValue("name")
	var in wire.RestoreRequest
	defer func() {
		h.auditRetention(r.Context(), p, "retention.restore", project, in.Repository, restoreDetail(in), err)
	}()
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Digest != "" {
		if _, err := digest.Parse(in.Digest); err != nil {
			return errdefs.Invalid("digest %q: %v", in.Digest, err)
		}
	}
	svc, err := h.retentionScope(r.Context(), p, project, access.ManagePolicies)
	if err != nil {
		return err
	}
	e, err := svc.Restore(r.Context(), project, in.Repository, in.Tag, digest.Digest(in.Digest))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, trashOut(e))
}

func restoreDetail(in wire.RestoreRequest) string {
	if in.Tag != "" {
		return "tag " + in.Tag
	}
	return "manifest " + in.Digest
}

func retentionPolicyOut(p *meta.RetentionPolicy) wire.RetentionPolicy {
	return wire.RetentionPolicy{Policy: []byte(p.Policy), Schedule: p.Schedule, Enabled: p.Enabled,
		NextRunAt: wire.Time(p.NextRunAt), UpdatedAt: wire.Time(p.UpdatedAt), UpdatedBy: p.UpdatedBy}
}

func retentionRunOut(r *meta.RetentionRun, project string) wire.RetentionRun {
	g := r.Progress
	return wire.RetentionRun{ID: r.ID, Project: project, DryRun: r.DryRun, Trigger: r.Trigger,
		Status: string(r.Status), CreatedAt: wire.Time(r.CreatedAt), StartedAt: wire.Time(r.StartedAt),
		FinishedAt: wire.Time(r.FinishedAt), Error: r.Error, CreatedBy: r.CreatedBy,
		Progress: wire.RetentionProgress{RepositoriesDone: g.RepositoriesDone, RepositoriesTotal: g.RepositoriesTotal,
			TagsExamined: g.TagsExamined, TagsDeleted: g.TagsDeleted, ManifestsDeleted: g.ManifestsDeleted,
			TagsSkipped: g.TagsSkipped, Bytes: g.Bytes}}
}

func trashOut(e *meta.TrashEntry) wire.TrashEntry {
	return wire.TrashEntry{ID: e.ID, Repository: e.Repository, Tag: e.Tag, Digest: string(e.Digest),
		DeletedAt: wire.Time(e.DeletedAt), RestorableUntil: wire.Time(e.RestorableUntil), RunID: e.RunID, Reason: e.Reason}
}
