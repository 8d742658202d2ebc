package tokenapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/errdefs"
)

// oauthError is an OAuth2 error response (RFC 6749 5.2).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// postToken serves POST /auth/token, the OAuth2 form containerd, helm and
// oras use: grant_type=password (username, password) or refresh_token
// (refresh_token), with scope (space-separated), service, client_id and
// access_type=offline for a refresh token.
func (h *Handler) postToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, oauthError{"invalid_request", "the body must be a form of at most 64 KiB"})
		return
	}
	f := r.PostForm
	if err := h.checkService(f.Get("service")); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", err.Error()})
		return
	}
	how := "oauth " + f.Get("grant_type")
	if c := f.Get("client_id"); c != "" {
		how += " (client " + clip(c, 64) + ")"
	}
	var (
		p       access.Principal
		err     error
		refresh string
	)
	switch f.Get("grant_type") {
	case "password":
		if f.Get("username") == "" {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "username and password are required"})
			return
		}
		p, err = h.login(r, f.Get("username"), f.Get("password"), how)
	case "refresh_token":
		refresh = f.Get("refresh_token")
		p, err = h.redeem(r, refresh, how)
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "grant_type must be password or refresh_token"})
		return
	}
	if err != nil {
		h.writeOAuthError(w, r, err)
		return
	}
	offline := f.Get("access_type") == "offline" && refresh == ""
	res, err := h.issue(ctx, r, p, parseScopes([]string{f.Get("scope")}), offline)
	if err != nil {
		api.Logger(ctx).ErrorContext(ctx, "issue token", "err", err)
		writeJSON(w, http.StatusInternalServerError, oauthError{"server_error", "could not issue a token; retry later"})
		return
	}
	if refresh != "" {
		// The refresh token keeps its own expiry: handing back the same one
		// means a stolen refresh token does not live forever.
		res.RefreshToken = refresh
	}
	writeJSON(w, http.StatusOK, res)
}

// redeem verifies a refresh token and loads its subject as it is now, so a
// disabled, expired or deleted account is refused. It records the outcome
// as a login.
func (h *Handler) redeem(r *http.Request, raw, how string) (access.Principal, error) {
	ctx := r.Context()
	if raw == "" {
		return access.Principal{}, errdefs.Unauthenticated("refresh_token is required")
	}
	claims, err := h.opts.Tokens.Verify(ctx, raw, auth.UseRefresh)
	if err != nil {
		h.record(r, access.AnonymousPrincipal, "login", "failure", how+": invalid refresh token")
		return access.Principal{}, err
	}
	who := access.Principal{Kind: claims.Kind, Name: claims.Subject}
	p, err := h.opts.Auth.Lookup(ctx, claims.Kind, claims.Subject)
	if err != nil {
		h.record(r, who, "login", "failure", how+": account no longer valid")
		return access.Principal{}, err
	}
	h.record(r, p, "login", "success", how)
	return p, nil
}

// writeOAuthError answers a failed grant: invalid_grant (400) for
// credentials that did not authenticate, 429 with Retry-After when rate
// limited, server_error otherwise.
func (h *Handler) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errdefs.ErrTooManyRequests):
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusTooManyRequests, oauthError{"invalid_grant", "too many failed attempts; retry later"})
	case errors.Is(err, errdefs.ErrUnauthenticated):
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "invalid credentials"})
	default:
		api.Logger(r.Context()).ErrorContext(r.Context(), "check credentials", "err", err)
		writeJSON(w, http.StatusInternalServerError, oauthError{"server_error", "could not check the credentials; retry later"})
	}
}

// clip shortens s to at most n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
