package admin

import (
	"net/http"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
)

// me answers who the caller is: a user's system-admin flag, groups and
// project roles, or a robot's permissions and expiry.
func (h *Handler) me(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	out := wire.Me{Kind: string(p.Kind), Name: p.Name, SysAdmin: p.SysAdmin, Groups: p.Groups}
	switch p.Kind {
	case access.UserKind:
		if h.opts.Roles == nil {
			// Sign-in checks (berth login) must work even if the wiring
			// forgot Roles; the roles are then left out.
			break
		}
		roles, err := h.rolesOf(r.Context(), p)
		if err != nil {
			return err
		}
		for _, pr := range roles {
			out.Projects = append(out.Projects, wire.ProjectRole{Project: pr.Project, Role: pr.Role})
		}
	case access.RobotKind:
		out.Permissions = permissionsOut(p.Permissions)
		out.ExpiresAt = wire.Time(p.ExpiresAt)
	}
	return writeJSON(w, http.StatusOK, out)
}
