package admin

import (
	"context"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
)

// Project storage quotas. Reading a quota and its usage needs pull on the
// project; setting or removing one needs a system administrator, so a
// project admin cannot raise their own limit. Changes are audited as
// quota.set and quota.delete.

func (h *Handler) getQuota(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	project := r.PathValue("name")
	store, _, err := h.quotaStore()
	if err != nil {
		return err
	}
	if _, err := h.opts.Access.GetProject(r.Context(), p, project); err != nil {
		return err
	}
	granted, err := h.opts.Access.Authorize(r.Context(), p, project, []access.Action{access.Pull})
	if err != nil {
		return err
	}
	if !access.Has(granted, access.Pull) {
		return errdefs.Denied("%s may not pull in project %q, so may not see its quota", p, project)
	}
	out, err := quotaOut(r.Context(), store, project)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) putQuota(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	project := r.PathValue("name")
	var in wire.QuotaSettings
	detail := ""
	defer func() { h.auditQuota(r.Context(), p, "quota.set", project, detail, err) }()
	if err := decode(r, &in); err != nil {
		return err
	}
	detail = fmt.Sprintf("limit %s, warn %s, artifacts %d", bytesize.Format(in.LimitBytes),
		bytesize.Format(in.WarnBytes), in.ArtifactLimit)
	if err := quotaAdmin(p); err != nil {
		return err
	}
	switch {
	case in.LimitBytes < 0 || in.WarnBytes < 0 || in.ArtifactLimit < 0:
		return errdefs.Invalid("quota figures must not be negative (0 means no limit)")
	case in.LimitBytes > 0 && in.WarnBytes > in.LimitBytes:
		return errdefs.Invalid("the warning threshold (%d bytes) is above the limit (%d bytes)", in.WarnBytes, in.LimitBytes)
	}
	store, qs, err := h.quotaStore()
	if err != nil {
		return err
	}
	q := &meta.Quota{Project: project, LimitBytes: in.LimitBytes, WarnBytes: in.WarnBytes,
		ArtifactLimit: in.ArtifactLimit, UpdatedBy: p.Name}
	if err := qs.PutQuota(r.Context(), q); err != nil {
		return err
	}
	out, err := quotaOut(r.Context(), store, project)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) deleteQuota(w http.ResponseWriter, r *http.Request, p access.Principal) (err error) {
	project := r.PathValue("name")
	defer func() { h.auditQuota(r.Context(), p, "quota.delete", project, "", err) }()
	if err := quotaAdmin(p); err != nil {
		return err
	}
	_, qs, err := h.quotaStore()
	if err != nil {
		return err
	}
	if err := qs.DeleteQuota(r.Context(), project); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// quotaAdmin refuses anyone but a system administrator.
func quotaAdmin(p access.Principal) error {
	if p.Kind == access.System || (p.Kind == access.UserKind && p.SysAdmin) {
		return nil
	}
	return errdefs.Denied("only a system administrator may set or remove a project quota")
}

// quotaStore returns the metadata store and its quotas.
func (h *Handler) quotaStore() (meta.Store, meta.QuotaStore, error) {
	if s, ok := h.opts.Roles.(meta.Store); ok {
		if qs, ok := meta.QuotaOf(s); ok {
			return s, qs, nil
		}
	}
	return nil, nil, errdefs.Unavailable("this server keeps no quotas (its metadata store cannot)")
}

// quotaOut is the quota of project with its usage, as the API shows it.
func quotaOut(ctx context.Context, store meta.Store, project string) (wire.Quota, error) {
	st, err := registry.ProjectQuotaStatus(ctx, store, project)
	if err != nil {
		return wire.Quota{}, err
	}
	out := wire.Quota{Project: project, Usage: wire.QuotaUsage{
		StoredBytes: st.Usage.StoredBytes, LogicalBytes: st.Usage.LogicalBytes, Artifacts: st.Usage.Artifacts,
		Percent: st.Percent, Warning: st.Warning,
	}}
	if q := st.Quota; q != nil {
		out.LimitBytes, out.WarnBytes, out.ArtifactLimit = q.LimitBytes, q.WarnBytes, q.ArtifactLimit
		out.UpdatedAt, out.UpdatedBy = wire.Time(q.UpdatedAt), q.UpdatedBy
	}
	return out, nil
}

// auditQuota records a quota change whose result is err.
func (h *Handler) auditQuota(ctx context.Context, p access.Principal, action, project, detail string, err error) {
	resource := "quota"
	h.auditImmutability(ctx, p, action, project, &resource, detail, err)
}
