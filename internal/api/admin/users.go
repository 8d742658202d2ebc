package admin

import (
	"net/http"
	"net/url"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/wire"
)

// Page sizes of the name-ordered listings.
const (
	defaultPage = 100
	maxPage     = 1000
)

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	limit, err := pageLimit(r, defaultPage, maxPage)
	if err != nil {
		return err
	}
	users, err := h.opts.Access.ListUsers(r.Context(), p, r.URL.Query().Get("after"), limit)
	if err != nil {
		return err
	}
	out := wire.UserList{Users: make([]wire.User, 0, len(users))}
	for i := range users {
		out.Users = append(out.Users, userOut(&users[i]))
	}
	if len(users) == limit {
		out.Next = users[len(users)-1].Name
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var in wire.NewUser
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := h.opts.Access.CreateUser(r.Context(), p, access.NewUser{
		Name: in.Name, Email: in.Email, Password: in.Password, SysAdmin: in.SysAdmin,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/users/"+url.PathEscape(u.Name))
	return writeJSON(w, http.StatusCreated, userOut(u))
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	u, err := h.opts.Access.GetUser(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userOut(u))
}

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	var in wire.UserChange
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := h.opts.Access.UpdateUser(r.Context(), p, r.PathValue("name"), access.UserChange{
		Email: in.Email, Password: in.Password, SysAdmin: in.SysAdmin, Disabled: in.Disabled,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userOut(u))
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	if err := h.opts.Access.DeleteUser(r.Context(), p, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) resetCLISecret(w http.ResponseWriter, r *http.Request, p access.Principal) error {
	name := r.PathValue("name")
	secret, err := h.opts.Access.ResetCLISecret(r.Context(), p, name)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, wire.Secret{Name: name, Secret: secret})
}
