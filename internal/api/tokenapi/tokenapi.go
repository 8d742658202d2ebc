// Package tokenapi serves the token endpoint of the Docker registry token
// protocol and the JWKS of its signing keys:
//
//	GET  /auth/token?service=…&scope=…[&account=…][&offline_token=true]   (docker, podman, crane, …; optional Basic)
//	POST /auth/token   grant_type=password|refresh_token                   (containerd, helm, oras: OAuth2 form)
//	GET  /auth/jwks.json
//
// A token grants, for each scope asked, the intersection of what was asked
// and what access.Service allows the caller, never more; anonymous callers
// get what public projects allow. Refresh ("offline") tokens are issued
// only to signed-in callers, and redeeming one looks the account up again,
// so a disabled or deleted account gets no more tokens.
package tokenapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/authn"
	"github.com/berth-registry/berth/internal/api/errcode"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// JWKSPath is where the JWK set is served.
const JWKSPath = "/auth/jwks.json"

// maxBody limits token request bodies (a form of a few fields).
const maxBody = 64 << 10

// retryAfter is what a rate-limited caller is told to wait, in seconds.
const retryAfter = "60"

// Options configure the Handler.
type Options struct {
	// Auth checks passwords and looks up refresh token subjects.
	Auth *auth.Authenticator
	// Tokens issues and verifies tokens.
	Tokens *auth.TokenService
	// Access decides what each scope grants.
	Access *access.Service
	// Audit records logins and issued tokens; nil records nothing.
	Audit func(ctx context.Context, e meta.AuditEvent)
	// TrustProxy takes the client's address from X-Forwarded-For (only
	// behind a reverse proxy that sets it).
	TrustProxy bool
}

// Handler serves the token endpoint and the JWKS.
type Handler struct {
	opts Options
	mux  *http.ServeMux
}

// New returns a Handler; Auth, Tokens and Access are required.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+authn.TokenPath, h.getToken)
	h.mux.HandleFunc("POST "+authn.TokenPath, h.postToken)
	h.mux.HandleFunc("GET "+JWKSPath, h.jwks)
	return h
}

// ServeHTTP serves authn.TokenPath and JWKSPath (other paths: 404).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api.SetRoute(r.Context(), "token", "")
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	h.mux.ServeHTTP(w, r)
}

// tokenResponse is the body of a successful token request; both names of
// the token are sent, as clients read one or the other.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// getToken serves GET /auth/token (Docker registry token protocol).
func (h *Handler) getToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	if err := h.checkService(q.Get("service")); err != nil {
		errcode.Write(w, r, errcode.New(errcode.Unsupported, err).WithStatus(http.StatusBadRequest))
		return
	}
	p := access.AnonymousPrincipal
	if r.Header.Get("Authorization") != "" {
		user, pw, ok := r.BasicAuth()
		if !ok {
			errcode.Write(w, r, errcode.Newf(errcode.Unauthorized, "the token endpoint takes Basic credentials or none"))
			return
		}
		var err error
		// Empty credentials, as some clients send when they have none,
		// ask for an anonymous token.
		if user == "" && pw == "" {
			p = access.AnonymousPrincipal
		} else if p, err = h.login(r, user, pw, "token request"); err != nil {
			h.writeLoginError(w, r, err)
			return
		}
	}
	refresh := q.Get("offline_token") == "true" && !p.IsAnonymous()
	res, err := h.issue(ctx, r, p, parseScopes(q["scope"]), refresh)
	if err != nil {
		api.Logger(ctx).ErrorContext(ctx, "issue token", "err", err)
		errcode.Write(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// issue grants p the scopes and signs an access token, plus a refresh
// token when refresh; it records the issue in the audit log.
func (h *Handler) issue(ctx context.Context, r *http.Request, p access.Principal, scopes []scopeRequest, refresh bool) (*tokenResponse, error) {
	granted, err := h.grant(ctx, p, scopes)
	if err != nil {
		return nil, err
	}
	tok, issuedAt, expiresIn, err := h.opts.Tokens.Issue(ctx, p.Name, kindOf(p), granted)
	if err != nil {
		return nil, err
	}
	res := &tokenResponse{
		Token:       tok,
		AccessToken: tok,
		ExpiresIn:   int(expiresIn / time.Second),
		IssuedAt:    issuedAt.UTC().Format(time.RFC3339),
		Scope:       scopeString(granted),
	}
	if refresh {
		if res.RefreshToken, err = h.opts.Tokens.IssueRefresh(ctx, p.Name, p.Kind); err != nil {
			return nil, err
		}
	}
	h.record(r, p, "token.issue", "success", describe(granted))
	return res, nil
}

// login checks a username and password and records the outcome.
func (h *Handler) login(r *http.Request, user, pw, how string) (access.Principal, error) {
	p, err := h.opts.Auth.Password(r.Context(), user, pw, authn.ClientAddr(r, h.opts.TrustProxy))
	if err != nil {
		who := access.Principal{Kind: access.UserKind, Name: user}
		if strings.HasPrefix(user, "robot$") {
			who.Kind = access.RobotKind
		}
		detail := how
		if errors.Is(err, errdefs.ErrTooManyRequests) {
			detail += ": too many failed attempts"
		}
		h.record(r, who, "login", "failure", detail)
		return access.Principal{}, err
	}
	h.record(r, p, "login", "success", how)
	return p, nil
}

// writeLoginError answers a failed login on GET: 401, or 429 with
// Retry-After.
func (h *Handler) writeLoginError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errdefs.ErrTooManyRequests) {
		w.Header().Set("Retry-After", retryAfter)
	}
	if !errors.Is(err, errdefs.ErrUnauthenticated) && !errors.Is(err, errdefs.ErrTooManyRequests) {
		api.Logger(r.Context()).ErrorContext(r.Context(), "check credentials", "err", err)
	}
	errcode.Write(w, r, err)
}

// checkService refuses a token for another service than ours.
func (h *Handler) checkService(service string) error {
	if service != "" && service != h.opts.Tokens.Service() {
		return errdefs.Invalid("this token endpoint issues tokens for service %q, not %q", h.opts.Tokens.Service(), service)
	}
	return nil
}

// record writes an audit event about p.
func (h *Handler) record(r *http.Request, p access.Principal, action, outcome, detail string) {
	if h.opts.Audit == nil {
		return
	}
	h.opts.Audit(r.Context(), meta.AuditEvent{
		At:        time.Now().UTC(),
		ActorKind: string(kindOf(p)),
		Actor:     p.Name,
		Remote:    authn.ClientAddr(r, h.opts.TrustProxy),
		Action:    action,
		Outcome:   outcome,
		Detail:    detail,
	})
}

// jwks serves the public halves of the signing keys.
func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := h.opts.Tokens.JWKS(ctx)
	if err != nil {
		api.Logger(ctx).ErrorContext(ctx, "serve JWKS", "err", err)
		errcode.Write(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=60")
	_, _ = w.Write(body)
}

// kindOf is p's kind, Anonymous when unset.
func kindOf(p access.Principal) access.Kind {
	if p.IsAnonymous() {
		return access.Anonymous
	}
	return p.Kind
}

// scopeString is granted in the space-separated form of an OAuth2 scope.
func scopeString(granted []auth.ResourceActions) string {
	parts := make([]string, len(granted))
	for i, ra := range granted {
		parts[i] = ra.Type + ":" + ra.Name + ":" + strings.Join(ra.Actions, ",")
	}
	return strings.Join(parts, " ")
}

// writeJSON writes v; token responses must not be cached (RFC 6749 5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
