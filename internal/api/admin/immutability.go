package admin

import (
	"context"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/policy"
)

// Tag immutability rules. Every route needs manage-policies on the project
// (project rules) or a system administrator (system-wide rules). Additions
// and removals are audited as immutability.add and immutability.remove.

func (h *Handler) listSystemImmutability(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.listImmutability(w, r, p, "")
}

func (h *Handler) listProjectImmutability(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.listImmutability(w, r, p, r.PathValue("name"))
}

func (h *Handler) listImmutability(w http.ResponseWriter, r *http.Request, p access.Principal, project string) error {
	store, projectID, err := h.immutabilityScope(r.Context(), p, project)
	if err != nil {
		return err
	}
	rules, err := store.ListImmutabilityRules(r.Context(), projectID)
	if err != nil {
		return err
	}
	out := wire.ImmutabilityRuleList{Rules: make([]wire.ImmutabilityRule, 0, len(rules))}
	for i := range rules {
		out.Rules = append(out.Rules, immutabilityOut(&rules[i], project))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) addSystemImmutability(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.addImmutability(w, r, p, "")
}

func (h *Handler) addProjectImmutability(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.addImmutability(w, r, p, r.PathValue("name"))
}

func (h *Handler) addImmutability(w http.ResponseWriter, r *http.Request, p access.Principal, project string) (err error) {
	var in wire.NewImmutabilityRule
	if err := decode(r, &in); err != nil {
		return err
	}
	rule := &meta.ImmutabilityRule{Repositories: in.Repositories, Tags: in.Tags, CreatedBy: p.Name}
	resource := "immutability"
	defer func() {
		h.auditImmutability(r.Context(), p, "immutability.add", project, &resource, describe(rule), err)
	}()
	if len(in.Tags) == 0 {
		return errdefs.Invalid(`a rule needs at least one tag pattern ("*" for every tag, "!pattern" to exclude)`)
	}
	if err := policy.Validate(policy.Rule{Repositories: in.Repositories, Tags: in.Tags}); err != nil {
		return err
	}
	store, projectID, err := h.immutabilityScope(r.Context(), p, project)
	if err != nil {
		return err
	}
	rule.ProjectID = projectID
	if err := store.PutImmutabilityRule(r.Context(), rule); err != nil {
		return err
	}
	resource = "immutability/" + strconv.FormatInt(rule.ID, 10)
	w.Header().Set("Location", immutabilityPath(project)+"/"+strconv.FormatInt(rule.ID, 10))
	return writeJSON(w, http.StatusCreated, immutabilityOut(rule, project))
}

func (h *Handler) removeSystemImmutability(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.removeImmutability(w, r, p, "")
}

func (h *Handler) removeProjectImmutability(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.removeImmutability(w, r, p, r.PathValue("name"))
}

func (h *Handler) removeImmutability(w http.ResponseWriter, r *http.Request, p access.Principal, project string) (err error) {
	resource := "immutability/" + r.PathValue("id")
	defer func() { h.auditImmutability(r.Context(), p, "immutability.remove", project, &resource, "", err) }()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return errdefs.NotFound("immutability rule %q not found", r.PathValue("id"))
	}
	store, projectID, err := h.immutabilityScope(r.Context(), p, project)
	if err != nil {
		return err
	}
	if err := store.DeleteImmutabilityRule(r.Context(), projectID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// immutabilityScope checks that p may manage the immutability rules of
// project ("" for the system-wide rules) and returns the store and the
// project's ID (0 for system-wide). A project p may not see is
// ErrNotFound, one it sees without manage-policies ErrDenied.
func (h *Handler) immutabilityScope(ctx context.Context, p access.Principal, project string) (meta.ImmutabilityStore, int64, error) {
	store := h.opts.Immutability
	if store == nil {
		if s, ok := h.opts.Roles.(meta.Store); ok {
			store, _ = meta.ImmutabilityOf(s)
		}
	}
	if store == nil {
		return nil, 0, errdefs.Unavailable("this server keeps no immutability rules (its metadata store cannot)")
	}
	if project == "" {
		if p.Kind != access.System && !(p.Kind == access.UserKind && p.SysAdmin) {
			return nil, 0, errdefs.Denied("only a system administrator may manage system-wide immutability rules")
		}
		return store, 0, nil
	}
	proj, err := h.opts.Access.GetProject(ctx, p, project)
	if err != nil {
		return nil, 0, err
	}
	granted, err := h.opts.Access.Authorize(ctx, p, project, []access.Action{access.ManagePolicies})
	if err != nil {
		return nil, 0, err
	}
	if !access.Has(granted, access.ManagePolicies) {
		return nil, 0, errdefs.Denied("%s may not %s in project %q; ask a project admin for a role that allows it",
			p, access.ManagePolicies, project)
	}
	return store, proj.ID, nil
}

// auditImmutability records a rule change whose result is err.
func (h *Handler) auditImmutability(ctx context.Context, p access.Principal, action, project string, resource *string, detail string, err error) {
	if h.opts.Audit == nil {
		return
	}
	e := meta.AuditEvent{ActorKind: string(p.Kind), Actor: p.Name, Action: action, Project: project,
		Resource: *resource, Outcome: "success", Detail: detail}
	if err != nil {
		e.Outcome = "failure"
		if errdefs.IsDenied(err) {
			e.Outcome = "denied"
		}
		e.Detail = err.Error()
	}
	h.opts.Audit.Record(ctx, e)
}

func describe(r *meta.ImmutabilityRule) string {
	pr := policy.Rule{ID: r.ID, Repositories: r.Repositories, Tags: r.Tags}
	return pr.String()
}

func immutabilityOut(r *meta.ImmutabilityRule, project string) wire.ImmutabilityRule {
	return wire.ImmutabilityRule{
		ID: r.ID, Project: project, Repositories: r.Repositories, Tags: r.Tags, Description: describe(r),
		CreatedAt: wire.Time(r.CreatedAt), CreatedBy: r.CreatedBy,
	}
}

// immutabilityPath is the collection URL of project's rules ("" for the
// system-wide ones).
func immutabilityPath(project string) string {
	if project == "" {
		return "/api/v1/immutability"
	}
	return "/api/v1/projects/" + project + "/immutability"
}
