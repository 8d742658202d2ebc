package admin

import (
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
)

func (h *Handler) listSystemRobots(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.listRobots(w, r, p, "")
}

func (h *Handler) listProjectRobots(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.listRobots(w, r, p, r.PathValue("name"))
}

func (h *Handler) listRobots(w http.ResponseWriter, r *http.Request, p access.Principal, project string) error {
	robots, err := h.opts.Access.ListRobots(r.Context(), p, project)
	if err != nil {
		return err
	}
	out := wire.RobotList{Robots: make([]wire.Robot, 0, len(robots))}
	for i := range robots {
		out.Robots = append(out.Robots, robotOut(&robots[i]))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createSystemRobot(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.createRobot(w, r, p, "")
}

func (h *Handler) createProjectRobot(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	return h.createRobot(w, r, p, r.PathValue("name"))
}

func (h *Handler) createRobot(w http.ResponseWriter, r *http.Request, p access.Principal, project string) error {
	var in wire.NewRobot
	if err := decode(r, &in); err != nil {
		return err
	}
	expires, err := parseTime("expires_at", in.ExpiresAt)
	if err != nil {
		return err
	}
	robot, secret, err := h.opts.Access.CreateRobot(r.Context(), p, access.NewRobot{
		Project: project, Name: in.Name, Description: in.Description,
		Permissions: permissionsIn(in.Permissions), ExpiresAt: expires,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/robots/"+url.PathEscape(robot.Name))
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, wire.CreatedRobot{Robot: robotOut(robot), Secret: secret})
}

func (h *Handler) getRobot(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	robot, err := h.opts.Access.GetRobot(r.Context(), p, r.PathValue("robotname"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, robotOut(robot))
}

func (h *Handler) updateRobot(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var in wire.RobotChange
	if err := decode(r, &in); err != nil {
		return err
	}
	ch := access.RobotChange{Description: in.Description, Disabled: in.Disabled}
	if in.Permissions != nil {
		perms := permissionsIn(*in.Permissions)
		ch.Permissions = &perms
	}
	if in.ExpiresAt != nil {
		t, err := parseTime("expires_at", *in.ExpiresAt)
		if err != nil {
			return err
		}
		ch.ExpiresAt = &t
	}
	robot, err := h.opts.Access.UpdateRobot(r.Context(), p, r.PathValue("robotname"), ch)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, robotOut(robot))
}

func (h *Handler) deleteRobot(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.opts.Access.DeleteRobot(r.Context(), p, r.PathValue("robotname")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) regenerateRobotSecret(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	name := r.PathValue("robotname")
	secret, err := h.opts.Access.RegenerateRobotSecret(r.Context(), p, name)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, wire.Secret{Name: name, Secret: secret})
}
