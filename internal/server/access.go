package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin"
	"github.com/berth-registry/berth/internal/api/authn"
	"github.com/berth-registry/berth/internal/api/oidcapi"
	"github.com/berth-registry/berth/internal/api/tokenapi"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/retention/run"
)

// accessParts are the access-control services: who callers are (auth),
// what they may do (access), the token service, the audit log, and the
// guard that puts them in front of every route.
type accessParts struct {
	store  meta.Store
	access *access.Service
	auth   *auth.Authenticator
	tokens *auth.TokenService
	audit  *audit.Recorder
	guard  *authn.Guard
	// adminPassword is the generated password of the admin account the
	// first start created, to print once; "" otherwise.
	adminPassword string
	// promoter serves the admin API's promotions (the registry service).
	promoter admin.Promoter
	// retention serves the admin API's retention routes (nil: 503).
	retention *run.Service
	// scanner serves the admin API's scan and SBOM routes (nil: 503).
	scanner admin.Scanner
}

// newAccess builds the access-control services on m and creates the first
// administrator if the store has no user yet.
func newAccess(ctx context.Context, cfg config.Config, m meta.Store, log *slog.Logger) (*accessParts, error) {
	p := &accessParts{store: m}
	p.audit = audit.New(m, audit.Options{Retention: cfg.Audit.Retention, Logger: log.With("component", "audit")})
	p.access = access.NewService(m, access.Options{
		AutoCreate: access.AutoCreate(cfg.Auth.AutoCreateProjects),
		Logger:     log.With("component", "access"),
		Audit:      p.audit.Record,
	})
	var err error
	p.tokens, err = auth.NewTokenService(ctx, m, auth.TokenOptions{
		Issuer:      cfg.Auth.Token.Issuer,
		Service:     cfg.Auth.Token.Service,
		TTL:         cfg.Auth.Token.TTL,
		RefreshTTL:  cfg.Auth.Token.RefreshTTL,
		KeyRotation: cfg.Auth.Token.KeyRotation,
		Logger:      log.With("component", "tokens"),
	})
	if err != nil {
		return nil, fmt.Errorf("token service: %w", err)
	}
	p.auth = auth.NewAuthenticator(m, auth.AuthOptions{
		Tokens:      p.tokens,
		Workload:    workloadRules(cfg.Auth.WorkloadIdentity),
		MaxFailures: cfg.Auth.FailedLogins.Max,
		Window:      cfg.Auth.FailedLogins.Window,
		Logger:      log.With("component", "auth"),
	})
	p.guard = authn.New(authn.Options{
		Realm:      realm(cfg),
		TrustProxy: cfg.Auth.TrustProxy,
		Auth:       p.auth,
		Tokens:     p.tokens,
		Access:     p.access,
		Audit:      p.audit.Record,
	})
	generated, created, err := p.access.EnsureAdmin(ctx, cfg.AdminPassword)
	if err != nil {
		return nil, fmt.Errorf("create the first administrator: %w", err)
	}
	if created {
		log.Info("created the system administrator account", "user", "admin",
			"password", map[bool]string{true: "generated (printed once on standard output)", false: "from admin_password"}[generated != ""])
	}
	p.adminPassword = generated
	return p, nil
}

// run starts the background work of access control: signing key rotation
// and the audit log's writer and pruning. The returned function stops it
// and waits until the audit events still queued are written.
func (p *accessParts) run(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.tokens.Run(ctx) })
	wg.Go(func() { p.audit.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// routes mounts the token endpoint, OIDC sign-in (when configured) and the
// admin API on mux.
func (p *accessParts) routes(ctx context.Context, cfg config.Config, mux *http.ServeMux, log *slog.Logger) error {
	tok := tokenapi.New(tokenapi.Options{
		Auth: p.auth, Tokens: p.tokens, Access: p.access, Audit: p.audit.Record, TrustProxy: cfg.Auth.TrustProxy,
	})
	mux.Handle("/auth/token", tok)
	mux.Handle("GET /auth/jwks.json", tok)
	if o := cfg.Auth.OIDC; o.Issuer != "" {
		h, err := oidcapi.New(ctx, oidcapi.Config{
			Issuer:        o.Issuer,
			ClientID:      o.ClientID,
			ClientSecret:  o.ClientSecret,
			RedirectURL:   oidcRedirect(cfg),
			Scopes:        splitList(o.Scopes),
			UsernameClaim: o.UsernameClaim,
			GroupsClaim:   o.GroupsClaim,
			AdminGroup:    o.AdminGroup,
		}, p.access, p.audit.Record)
		if err != nil {
			return fmt.Errorf("oidc: %w", err)
		}
		mux.Handle("/auth/oidc/", h)
		log.Info("OIDC sign-in enabled", "issuer", o.Issuer)
	}
	mux.Handle("/api/v1/", admin.New(admin.Options{
		Guard: adminCaller{p.guard}, Access: p.access, Roles: p.store, Audit: p.audit, TrustProxy: cfg.Auth.TrustProxy,
		Promoter: p.promoter, Retention: p.retention, Scanner: p.scanner,
	}))
	return nil
}

// realm is the token endpoint's URL when external_url says where clients
// reach the registry; "" lets the guard derive it from each request.
func realm(cfg config.Config) string {
	if cfg.ExternalURL == "" {
		return ""
	}
	return strings.TrimSuffix(cfg.ExternalURL, "/") + "/auth/token"
}

func oidcRedirect(cfg config.Config) string {
	if cfg.Auth.OIDC.RedirectURL != "" {
		return cfg.Auth.OIDC.RedirectURL
	}
	return strings.TrimSuffix(cfg.ExternalURL, "/") + "/auth/oidc/callback"
}

func workloadRules(in []config.WorkloadRule) []auth.WorkloadRule {
	out := make([]auth.WorkloadRule, 0, len(in))
	for _, r := range in {
		out = append(out, auth.WorkloadRule{Issuer: r.Issuer, Audience: r.Audience, Claims: r.Claims, Robot: r.Robot})
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// adminCaller resolves admin API callers with Guard.Caller, so that a
// registry token's subject has its current permissions there.
type adminCaller struct{ g *authn.Guard }

func (a adminCaller) Principal(r *http.Request) (access.Principal, access.Grants, error) {
	return a.g.Caller(r)
}
