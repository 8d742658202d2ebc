// Package oidcapi signs people in through an OpenID Connect provider with
// the authorization-code flow and PKCE, and gives them a CLI secret.
//
// GET /auth/oidc/login sends the browser to the provider; the provider
// sends it back to GET /auth/oidc/callback, which checks the state,
// exchanges the code (with the PKCE verifier and the client secret),
// verifies the ID token (signature, issuer, audience = client id, expiry,
// nonce), finds or creates the user through access.Service.OnboardOIDC and
// renders a small page with the user's name and, when they have none yet or
// asked for a new one (/auth/oidc/login?new_cli_secret=1), their CLI secret,
// shown once.
//
// The CLI secret, not the ID token, is what docker, helm and the berth CLI
// present (as the password of HTTP Basic or of the token endpoint), so
// command-line credentials outlive the browser session; they stop working
// when the secret is reset or the user is disabled. Nothing else is kept:
// the handler sets no session cookie (a web UI with sessions is later
// work), only a short-lived, HMAC-signed cookie carrying the state, nonce
// and PKCE verifier between the two requests of one sign-in.
//
// The cookie key is derived from the client secret, which every replica's
// configuration holds, so in scale-out mode a sign-in may start on one
// replica and end on another. A public client (no secret) gets a random key
// per process: its sign-ins must start and end on the same replica.
package oidcapi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// The paths the Handler serves. The provider must redirect to the path of
// Config.RedirectURL, which normally is CallbackPath on the registry's
// public URL.
const (
	LoginPath    = "/auth/oidc/login"
	CallbackPath = "/auth/oidc/callback"
)

// exchangeTimeout bounds the token request to the provider.
const exchangeTimeout = 30 * time.Second

// Config says which provider people sign in with and how its claims map to
// Berth users.
type Config struct {
	// Issuer is the provider's issuer URL; its discovery document is read
	// from Issuer + "/.well-known/openid-configuration". Required.
	Issuer string
	// ClientID and ClientSecret are Berth's client registration at the
	// provider. ClientID is required (it is the ID token's audience).
	ClientID, ClientSecret string
	// RedirectURL is the absolute URL of the callback as browsers reach it,
	// e.g. https://registry.example.com/auth/oidc/callback. Required; its
	// host is the registry host shown in the docker login command.
	RedirectURL string
	// Scopes requested. Default: openid, profile, email, plus "groups" when
	// GroupsClaim is set. "openid" is added if missing.
	Scopes []string
	// UsernameClaim names the claim holding the user name. Default
	// "preferred_username"; when the claim is absent or empty the email is
	// used, then the subject. The name is lower-cased and characters a
	// Berth user name cannot hold become "-".
	UsernameClaim string
	// GroupsClaim names the claim holding the user's groups (a list of
	// strings, or one string), e.g. "groups". "" means no groups.
	GroupsClaim string
	// AdminGroup makes members of this group system administrators; "" means
	// nobody becomes one through OIDC.
	AdminGroup string
}

// Handler serves LoginPath and CallbackPath. It is safe for concurrent use.
type Handler struct {
	cfg      Config
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	client   *http.Client // from New's ctx, for the token request; nil: default
	svc      *access.Service
	audit    func(context.Context, meta.AuditEvent)
	key      []byte // signs the flow cookie (see cookieKey)
	host     string // registry host for the commands shown
	berthURL string // what to give `berth login`
	cookie   string // flow cookie path: the callback path
	mux      *http.ServeMux
}

// New reads the provider's discovery document and returns a Handler. ctx
// bounds discovery; if it carries an *http.Client under oauth2.HTTPClient
// (see oidc.ClientContext), that client is used for every request to the
// provider. audit receives a "login" event for every completed or failed
// callback; nil records nothing. The configuration is checked first
// (ErrInvalid); an unreachable or misbehaving provider is ErrUnavailable.
func New(ctx context.Context, cfg Config, svc *access.Service, audit func(context.Context, meta.AuditEvent)) (*Handler, error) {
	cfg, redirect, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	if svc == nil {
		return nil, errdefs.Invalid("oidc: an access service is required")
	}
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, errdefs.Wrap(errdefs.ErrUnavailable, err, "oidc: discover provider %s", cfg.Issuer)
	}
	key, err := cookieKey(cfg)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: cfg,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.Scopes,
		},
		verifier: provider.VerifierContext(context.WithoutCancel(ctx), &oidc.Config{ClientID: cfg.ClientID}),
		svc:      svc,
		audit:    audit,
		key:      key,
		host:     redirect.Host,
		berthURL: redirect.Host,
		cookie:   redirect.EscapedPath(),
	}
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok {
		h.client = c
	}
	if redirect.Scheme == "http" {
		h.berthURL = "http://" + redirect.Host
	}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET "+LoginPath, h.login)
	h.mux.HandleFunc("GET "+CallbackPath, h.callback)
	return h, nil
}

// normalize checks cfg and fills in its defaults.
func normalize(cfg Config) (Config, *url.URL, error) {
	var problems []string
	if cfg.Issuer == "" {
		problems = append(problems, "set the issuer URL")
	}
	if cfg.ClientID == "" {
		problems = append(problems, "set the client id")
	}
	redirect, err := url.Parse(cfg.RedirectURL)
	if cfg.RedirectURL == "" || err != nil || (redirect.Scheme != "https" && redirect.Scheme != "http") || redirect.Host == "" {
		problems = append(problems, fmt.Sprintf("the redirect URL %q must be an absolute http(s) URL ending in %s", cfg.RedirectURL, CallbackPath))
	}
	if len(problems) > 0 {
		return cfg, nil, errdefs.Invalid("oidc configuration: %s", strings.Join(problems, "; "))
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = "preferred_username"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email"}
		if cfg.GroupsClaim != "" {
			cfg.Scopes = append(cfg.Scopes, "groups")
		}
	} else if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	return cfg, redirect, nil
}

// ServeHTTP serves GET LoginPath and GET CallbackPath.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// login starts a sign-in: it stores the state, nonce and PKCE verifier in
// the flow cookie and redirects to the provider.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	api.SetRoute(r.Context(), "oidc.login", "")
	f, err := newFlow(time.Now(), wantsNewSecret(r.URL.Query().Get("new_cli_secret")))
	if err != nil {
		api.Logger(r.Context()).Error("oidc: start sign-in", "err", err)
		h.fail(w, r, failure{status: http.StatusInternalServerError, msg: "Berth could not start the sign-in. Try again.", reason: "start: " + err.Error()})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     flowCookie,
		Value:    f.encode(h.key),
		Path:     h.cookie,
		MaxAge:   int(flowTTL / time.Second),
		HttpOnly: true,
		Secure:   h.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	if f.NewSecret {
		// A link can start this flow in someone's browser; making the
		// provider ask them to sign in again keeps a silent single sign-on
		// from revoking their CLI secret behind their back.
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	target := h.oauth.AuthCodeURL(f.State, opts...)
	noStore(w)
	http.Redirect(w, r, target, http.StatusFound)
}

// secure reports whether the flow cookie may only travel over TLS: when
// this request came over TLS or the callback is an https URL (TLS ended at
// a proxy in front of Berth).
func (h *Handler) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(h.cfg.RedirectURL, "https:")
}

// wantsNewSecret reads the new_cli_secret parameter.
func wantsNewSecret(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// callback finishes a sign-in and renders the result page.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	api.SetRoute(ctx, "oidc.callback", "")
	// The flow cookie is good for one callback only.
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: "", Path: h.cookie, MaxAge: -1,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
	res, fl := h.finish(ctx, r)
	if fl != nil {
		h.fail(w, r, *fl)
		return
	}
	detail := "oidc sign-in through " + h.cfg.Issuer
	if res.Secret != "" {
		detail += "; new CLI secret issued"
	}
	h.record(ctx, r, meta.AuditEvent{ActorKind: string(access.UserKind), Actor: res.User, Outcome: "success", Detail: detail})
	h.render(w, http.StatusOK, res)
}

// finish runs the checks and steps of a callback and returns what the page
// shows, or why it failed.
func (h *Handler) finish(ctx context.Context, r *http.Request) (page, *failure) {
	q := r.URL.Query()
	if code := q.Get("error"); code != "" {
		return page{}, &failure{status: http.StatusUnauthorized,
			msg:    "The identity provider did not sign you in (" + short(code) + "). Try again, or ask your administrator.",
			reason: "provider error " + short(code)}
	}
	f, err := readFlow(r, h.key, time.Now())
	if err != nil {
		return page{}, &failure{status: http.StatusBadRequest, msg: "This sign-in has expired or was not started here. Start again.", reason: err.Error()}
	}
	if !f.stateMatches(q.Get("state")) {
		return page{}, &failure{status: http.StatusBadRequest, msg: "This sign-in does not match the one your browser started. Start again.", reason: "state mismatch"}
	}
	if q.Get("code") == "" {
		return page{}, &failure{status: http.StatusBadRequest, msg: "The identity provider sent no authorization code. Start again.", reason: "no code"}
	}
	id, err := h.verify(ctx, q.Get("code"), f)
	if err != nil {
		api.Logger(ctx).Info("oidc: sign-in refused", "err", err)
		return page{}, &failure{status: http.StatusUnauthorized, msg: "Berth could not verify your sign-in with the identity provider. Start again.", reason: err.Error()}
	}
	return h.onboard(ctx, id, f.NewSecret)
}

// verify exchanges code for tokens and returns the identity the verified ID
// token describes. Its errors never include a token.
func (h *Handler) verify(ctx context.Context, code string, f flow) (access.OIDCIdentity, error) {
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	if h.client != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, h.client)
	}
	tok, err := h.oauth.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return access.OIDCIdentity{}, fmt.Errorf("exchange code: provider answered %d %s", re.Response.StatusCode, short(re.ErrorCode))
		}
		return access.OIDCIdentity{}, fmt.Errorf("exchange code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return access.OIDCIdentity{}, errors.New("the token response has no id_token")
	}
	idt, err := h.verifier.Verify(ctx, raw)
	if err != nil {
		return access.OIDCIdentity{}, fmt.Errorf("verify id token: %w", err)
	}
	if !f.nonceMatches(idt.Nonce) {
		return access.OIDCIdentity{}, errors.New("verify id token: nonce does not match")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return access.OIDCIdentity{}, fmt.Errorf("read id token claims: %w", err)
	}
	return identity(h.cfg, idt.Issuer, idt.Subject, claims)
}

// onboard finds or creates the user and, when they have no CLI secret or
// asked for a new one, issues it.
func (h *Handler) onboard(ctx context.Context, id access.OIDCIdentity, newSecret bool) (page, *failure) {
	u, err := h.svc.OnboardOIDC(ctx, id)
	if err == nil && u.Disabled {
		err = errdefs.Denied("user %s is disabled", u.Name)
	}
	if err != nil {
		return page{}, h.serviceFailure(ctx, id.Username, "onboard", err)
	}
	res := page{User: u.Name, Host: h.host, BerthURL: h.berthURL}
	if u.CLISecretHash == "" || newSecret {
		res.Secret, err = h.svc.ResetCLISecret(ctx, access.UserPrincipal(u), u.Name)
		if err != nil {
			return page{}, h.serviceFailure(ctx, u.Name, "issue CLI secret", err)
		}
	}
	return res, nil
}

// serviceFailure turns an error of the access service into a failure.
func (h *Handler) serviceFailure(ctx context.Context, user, step string, err error) *failure {
	f := &failure{actor: user, reason: step + ": " + err.Error()}
	switch {
	case errors.Is(err, errdefs.ErrDenied), errors.Is(err, errdefs.ErrUnauthenticated):
		f.status, f.msg = http.StatusForbidden, "Your account may not sign in to this registry. Ask your administrator."
	case errors.Is(err, errdefs.ErrInvalid):
		f.status, f.msg = http.StatusBadRequest, "Berth cannot make an account from your identity: "+err.Error()
	case errors.Is(err, errdefs.ErrAlreadyExists), errors.Is(err, errdefs.ErrConflict):
		f.status, f.msg = http.StatusConflict, "Berth cannot make an account from your identity: "+err.Error()
	default:
		api.Logger(ctx).Error("oidc: sign-in failed", "step", step, "user", user, "err", err)
		f.status, f.msg = http.StatusInternalServerError, "Berth could not finish your sign-in. Try again later."
	}
	return f
}

// failure is why a sign-in did not complete: the status and message for
// the browser, and the reason for the audit log.
type failure struct {
	status int
	msg    string
	reason string
	actor  string // the user, when known
}

// fail records f and renders the error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, f failure) {
	outcome := "failure"
	if f.status == http.StatusForbidden {
		outcome = "denied"
	}
	e := meta.AuditEvent{ActorKind: string(access.Anonymous), Outcome: outcome, Detail: "oidc: " + f.reason}
	if f.actor != "" {
		e.ActorKind, e.Actor = string(access.UserKind), f.actor
	}
	h.record(r.Context(), r, e)
	h.render(w, f.status, page{Error: f.msg})
}

// record sends a login event to the audit log.
func (h *Handler) record(ctx context.Context, r *http.Request, e meta.AuditEvent) {
	if h.audit == nil {
		return
	}
	e.At = time.Now().UTC()
	e.Action = "login"
	e.Remote = remoteHost(r.RemoteAddr)
	h.audit(ctx, e)
}

// remoteHost returns the address part of a RemoteAddr.
func remoteHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// short bounds a provider-supplied string before it reaches a page or the
// audit log.
func short(s string) string {
	const limit = 64
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if rs := []rune(s); len(rs) > limit {
		s = string(rs[:limit]) + "…"
	}
	return s
}

// cookieKey returns the key that signs flow cookies: derived from the
// client secret (with the issuer and client id, so that it serves no other
// purpose) when there is one, so that every replica computes the same key;
// otherwise random.
func cookieKey(cfg Config) ([]byte, error) {
	if cfg.ClientSecret != "" {
		m := hmac.New(sha256.New, []byte(cfg.ClientSecret))
		m.Write([]byte("berth oidc flow cookie\x00" + cfg.Issuer + "\x00" + cfg.ClientID))
		return m.Sum(nil), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("oidc: make cookie key: %w", err)
	}
	return key, nil
}
