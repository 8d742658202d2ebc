package admin

import (
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

func (h *Handler) listProjects(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	limit, err := pageLimit(r, defaultPage, maxPage)
	if err != nil {
		return err
	}
	projects, err := h.opts.Access.ListProjects(r.Context(), p, r.URL.Query().Get("after"), limit)
	if err != nil {
		return err
	}
	out := wire.ProjectList{Projects: make([]wire.Project, 0, len(projects))}
	for i := range projects {
		out.Projects = append(out.Projects, projectOut(&projects[i]))
	}
	if len(projects) == limit {
		out.Next = projects[len(projects)-1].Name
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createProject(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var in wire.NewProject
	if err := decode(r, &in); err != nil {
		return err
	}
	proj, err := h.opts.Access.CreateProject(r.Context(), p, in.Name, in.Public)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/projects/"+url.PathEscape(proj.Name))
	return writeJSON(w, http.StatusCreated, projectOut(proj))
}

func (h *Handler) getProject(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	proj, err := h.opts.Access.GetProject(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectOut(proj))
}

func (h *Handler) updateProject(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var in wire.ProjectChange
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Public == nil {
		return errdefs.Invalid(`nothing to change: the body sets no field (e.g. {"public":true})`)
	}
	proj, err := h.opts.Access.UpdateProject(r.Context(), p, r.PathValue("name"), *in.Public)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectOut(proj))
}

func (h *Handler) deleteProject(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.opts.Access.DeleteProject(r.Context(), p, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listMembers(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	members, err := h.opts.Access.ListMembers(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	out := wire.MemberList{Members: make([]wire.Member, 0, len(members))}
	for _, m := range members {
		out.Members = append(out.Members, memberOut(m))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) putMember(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var in wire.Member
	if err := decode(r, &in); err != nil {
		return err
	}
	kind, err := memberKind(in.Kind)
	if err != nil {
		return err
	}
	role, err := access.ParseRole(in.Role)
	if err != nil {
		return errdefs.Invalid("role: %v", err)
	}
	project := r.PathValue("name")
	if err := h.opts.Access.PutMember(r.Context(), p, project, kind, in.Name, role); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wire.Member{Kind: string(kind), Name: in.Name, Role: string(role)})
}

func (h *Handler) deleteMember(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	kind, err := memberKind(r.PathValue("kind"))
	if err != nil {
		return err
	}
	err = h.opts.Access.DeleteMember(r.Context(), p, r.PathValue("name"), kind, r.PathValue("member"))
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// memberKind parses a member kind: "user" or "group".
func memberKind(s string) (meta.MemberKind, error) {
	switch k := meta.MemberKind(s); k {
	case meta.MemberUser, meta.MemberGroup:
		return k, nil
	}
	return "", errdefs.Invalid("member kind %q: want user or group", s)
}
