package oidcapi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/oidcapi"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/auth/secret"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

const (
	testClientID     = "berth-test"
	testClientSecret = "client-secret-for-tests"
	adminGroup       = "registry-admins"
)

// env is a provider, a real SQLite store, the access service and the
// handler behind a real HTTP server on 127.0.0.1.
type env struct {
	prov  *provider
	store *sqlite.Store
	srv   *httptest.Server

	mu     sync.Mutex
	events []meta.AuditEvent
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newReplicatedEnv(t, 1)
}

// newReplicatedEnv is newEnv with n handlers built from the same
// configuration, as n replicas would, behind one server that sends each
// request to the next in turn.
func newReplicatedEnv(t *testing.T, n int) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	e := &env{store: store}
	e.prov = newProvider(t, testClientID, testClientSecret, aliceClaims())
	var (
		hs   []http.Handler
		next atomic.Int64
	)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs[int(next.Add(1)-1)%len(hs)].ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	svc := access.NewService(store, access.Options{})
	for range n {
		h, err := oidcapi.New(ctx, oidcapi.Config{
			Issuer:       e.prov.issuer(),
			ClientID:     testClientID,
			ClientSecret: testClientSecret,
			RedirectURL:  e.srv.URL + oidcapi.CallbackPath,
			GroupsClaim:  "groups",
			AdminGroup:   adminGroup,
		}, svc, e.record)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return e
}

// A sign-in may start on one replica and end on another: replicas with the
// same configuration sign flow cookies with the same key.
func TestSignInAcrossReplicas(t *testing.T) {
	e := newReplicatedEnv(t, 2)
	status, body := e.signIn(t, browser(t), "")
	if status != http.StatusOK || match(secretRE, body) == "" {
		t.Fatalf("sign-in started on one replica and finished on the other: status %d\n%s", status, body)
	}
}

func aliceClaims() map[string]any {
	return map[string]any{"sub": "alice-subject", "preferred_username": "alice", "email": "alice@example.com",
		"groups": []string{"dev", "ops"}}
}

func (e *env) record(_ context.Context, ev meta.AuditEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

// lastEvent returns the newest audit event.
func (e *env) lastEvent(t *testing.T) meta.AuditEvent {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.events) == 0 {
		t.Fatal("no audit event recorded")
	}
	return e.events[len(e.events)-1]
}

// browser returns a client with a cookie jar that follows redirects.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// noFollow returns c's jar in a client that stops at each redirect.
func noFollow(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches u with c and returns the status and body.
func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// signIn runs the whole flow in a browser and returns the final page.
func (e *env) signIn(t *testing.T, c *http.Client, query string) (int, string) {
	t.Helper()
	status, body, _ := get(t, c, e.srv.URL+oidcapi.LoginPath+query)
	return status, body
}

// callbackURL starts a sign-in with c and returns the callback URL the
// provider sends the browser to, without visiting it.
func (e *env) callbackURL(t *testing.T, c *http.Client) string {
	t.Helper()
	nf := noFollow(c)
	status, _, hdr := get(t, nf, e.srv.URL+oidcapi.LoginPath)
	if status != http.StatusFound {
		t.Fatalf("login: status %d, want 302", status)
	}
	status, _, hdr = get(t, nf, hdr.Get("Location"))
	if status != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", status)
	}
	return hdr.Get("Location")
}

var (
	secretRE   = regexp.MustCompile(`id="cli-secret">([^<]*)<`)
	usernameRE = regexp.MustCompile(`id="username">([^<]*)<`)
)

func match(re *regexp.Regexp, body string) string {
	if m := re.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// user reads a user from the store.
func (e *env) user(t *testing.T, name string) *meta.User {
	t.Helper()
	u, err := e.store.GetUser(context.Background(), name)
	if err != nil {
		t.Fatalf("get user %s: %v", name, err)
	}
	return u
}

// checkNoTokens fails if body holds any ID token the provider issued.
func (e *env) checkNoTokens(t *testing.T, body string) {
	t.Helper()
	for _, tok := range e.prov.idTokens() {
		if strings.Contains(body, tok) || strings.Contains(body, strings.Split(tok, ".")[2]) {
			t.Fatal("the page shows an ID token")
		}
	}
}

func TestSignInIssuesCLISecretOnce(t *testing.T) {
	e := newEnv(t)
	c := browser(t)

	status, body := e.signIn(t, c, "")
	if status != http.StatusOK {
		t.Fatalf("first sign-in: status %d\n%s", status, body)
	}
	if got := match(usernameRE, body); got != "alice" {
		t.Errorf("page names user %q, want alice", got)
	}
	first := match(secretRE, body)
	if first == "" {
		t.Fatalf("first sign-in shows no CLI secret:\n%s", body)
	}
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, want := range []string{"docker login -u alice " + host, "berth login " + e.srv.URL + " -u alice"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks the command %q", want)
		}
	}
	e.checkNoTokens(t, body)
	u := e.user(t, "alice")
	if !secret.VerifySecret(u.CLISecretHash, first) {
		t.Error("the CLI secret shown does not match the stored hash")
	}
	authn := auth.NewAuthenticator(e.store, auth.AuthOptions{})
	if p, err := authn.Password(context.Background(), "alice", first, "127.0.0.1"); err != nil || p.Name != "alice" {
		t.Errorf("docker login with the CLI secret: principal %+v, err %v", p, err)
	}
	got := struct {
		Issuer, Subject, Email string
		Groups                 []string
		SysAdmin               bool
	}{u.Issuer, u.Subject, u.Email, u.Groups, u.SysAdmin}
	want := got
	want.Issuer, want.Subject, want.Email, want.Groups, want.SysAdmin = e.prov.issuer(), "alice-subject", "alice@example.com", []string{"dev", "ops"}, false
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stored user (-want +got):\n%s", d)
	}
	ev := e.lastEvent(t)
	if ev.Action != "login" || ev.Outcome != "success" || ev.Actor != "alice" || ev.ActorKind != "user" || ev.Remote != "127.0.0.1" {
		t.Errorf("audit event %+v, want a successful login of alice from 127.0.0.1", ev)
	}

	// Signing in again shows no secret and keeps the one issued.
	status, body = e.signIn(t, c, "")
	if status != http.StatusOK || match(secretRE, body) != "" {
		t.Fatalf("second sign-in: status %d, secret shown %q", status, match(secretRE, body))
	}
	if !secret.VerifySecret(e.user(t, "alice").CLISecretHash, first) {
		t.Error("a plain sign-in changed the CLI secret")
	}

	// Asking for a new one replaces it.
	status, body = e.signIn(t, c, "?new_cli_secret=1")
	second := match(secretRE, body)
	if status != http.StatusOK || second == "" || second == first {
		t.Fatalf("new_cli_secret sign-in: status %d, secret %q (first %q)", status, second, first)
	}
	hash := e.user(t, "alice").CLISecretHash
	if !secret.VerifySecret(hash, second) || secret.VerifySecret(hash, first) {
		t.Error("after a reset only the new CLI secret should verify")
	}
	if _, err := authn.Password(context.Background(), "alice", first, "127.0.0.1"); !errors.Is(err, errdefs.ErrUnauthenticated) {
		t.Errorf("login with the replaced CLI secret: err %v, want unauthenticated", err)
	}
	if _, err := authn.Password(context.Background(), "alice", second, "127.0.0.1"); err != nil {
		t.Errorf("login with the new CLI secret: %v", err)
	}
}

func TestClaimMapping(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name      string
		claims    map[string]any
		wantUser  string
		wantGroup []string
		wantAdmin bool
	}{
		{"preferred username", map[string]any{"sub": "s1", "preferred_username": "Carol", "groups": []string{"a"}}, "carol", []string{"a"}, false},
		{"email fallback", map[string]any{"sub": "s2", "email": "Dave.Smith@Example.com"}, "dave.smith-example.com", nil, false},
		{"subject fallback", map[string]any{"sub": "Erin|42"}, "erin-42", nil, false},
		{"groups as one string", map[string]any{"sub": "s4", "preferred_username": "frank", "groups": "qa"}, "frank", []string{"qa"}, false},
		{"admin group", map[string]any{"sub": "s5", "preferred_username": "grace", "groups": []string{"dev", adminGroup}}, "grace", []string{"dev", adminGroup}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.prov.set(tt.claims, providerTweak{})
			status, body := e.signIn(t, browser(t), "")
			if status != http.StatusOK {
				t.Fatalf("status %d\n%s", status, body)
			}
			if got := match(usernameRE, body); got != tt.wantUser {
				t.Errorf("user name %q, want %q", got, tt.wantUser)
			}
			u := e.user(t, tt.wantUser)
			if d := cmp.Diff(tt.wantGroup, u.Groups); d != "" {
				t.Errorf("groups (-want +got):\n%s", d)
			}
			if u.SysAdmin != tt.wantAdmin {
				t.Errorf("SysAdmin = %v, want %v", u.SysAdmin, tt.wantAdmin)
			}
		})
	}
}

func TestRefusedTokens(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		tweak providerTweak
	}{
		{"signed with another key", providerTweak{forge: true}},
		{"wrong audience", providerTweak{audience: "another-client"}},
		{"expired", providerTweak{expiresIn: -5 * time.Minute}},
		{"wrong nonce", providerTweak{nonce: "not-the-nonce"}},
		{"wrong issuer", providerTweak{issuer: "https://evil.example.com"}},
		{"provider error", providerTweak{authorizeEr: "access_denied"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject := "refused-" + strings.ReplaceAll(tt.name, " ", "-")
			e.prov.set(map[string]any{"sub": subject, "preferred_username": subject}, tt.tweak)
			status, body := e.signIn(t, browser(t), "")
			if status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401\n%s", status, body)
			}
			if !strings.Contains(body, "Sign-in failed") || match(secretRE, body) != "" {
				t.Errorf("want an error page without a secret, got\n%s", body)
			}
			e.checkNoTokens(t, body)
			if ev := e.lastEvent(t); ev.Action != "login" || ev.Outcome != "failure" {
				t.Errorf("audit event %+v, want a failed login", ev)
			}
			if _, err := e.store.GetUserBySubject(context.Background(), e.prov.issuer(), subject); !errdefs.IsNotFound(err) {
				t.Errorf("user of a refused sign-in: err %v, want not found", err)
			}
		})
	}
}

func TestBadCallbacks(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		// call visits the callback in some wrong way and returns the status.
		call func(t *testing.T) int
		want int
	}{
		{"wrong state", func(t *testing.T) int {
			c := browser(t)
			u := e.callbackURL(t, c)
			pu, _ := url.Parse(u)
			q := pu.Query()
			q.Set("state", "forged-state")
			pu.RawQuery = q.Encode()
			status, _, _ := get(t, c, pu.String())
			return status
		}, http.StatusBadRequest},
		{"no flow cookie", func(t *testing.T) int {
			u := e.callbackURL(t, browser(t))
			status, _, _ := get(t, browser(t), u)
			return status
		}, http.StatusBadRequest},
		{"tampered flow cookie", func(t *testing.T) int {
			c := browser(t)
			u := e.callbackURL(t, c)
			return getWithCookie(t, u, tamper(flowCookieOf(t, c, u)))
		}, http.StatusBadRequest},
		{"replayed code", func(t *testing.T) int {
			c := browser(t)
			u := e.callbackURL(t, c)
			cookie := flowCookieOf(t, c, u)
			if status, body, _ := get(t, c, u); status != http.StatusOK {
				t.Fatalf("first use: status %d\n%s", status, body)
			}
			return getWithCookie(t, u, cookie)
		}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.prov.set(aliceClaims(), providerTweak{})
			if got := tt.call(t); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
			if ev := e.lastEvent(t); ev.Outcome != "failure" {
				t.Errorf("audit event %+v, want a failure", ev)
			}
		})
	}
}

// flowCookieOf returns the cookie c would send to u.
func flowCookieOf(t *testing.T, c *http.Client, u string) *http.Cookie {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.Jar.Cookies(pu) {
		if ck.Name == "berth_oidc_flow" {
			return ck
		}
	}
	t.Fatal("no flow cookie for the callback")
	return nil
}

// tamper flips one character of the cookie's payload.
func tamper(c *http.Cookie) *http.Cookie {
	b := []byte(c.Value)
	if b[3] == 'A' {
		b[3] = 'B'
	} else {
		b[3] = 'A'
	}
	return &http.Cookie{Name: c.Name, Value: string(b)}
}

// getWithCookie fetches u with only cookie and returns the status.
func getWithCookie(t *testing.T, u string, cookie *http.Cookie) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestDisabledUserRefused(t *testing.T) {
	e := newEnv(t)
	if status, body := e.signIn(t, browser(t), ""); status != http.StatusOK {
		t.Fatalf("first sign-in: status %d\n%s", status, body)
	}
	u := e.user(t, "alice")
	u.Disabled = true
	if err := e.store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	status, body := e.signIn(t, browser(t), "?new_cli_secret=1")
	if status != http.StatusForbidden || match(secretRE, body) != "" {
		t.Errorf("disabled user: status %d, secret %q; want 403 and none", status, match(secretRE, body))
	}
	if ev := e.lastEvent(t); ev.Outcome != "denied" {
		t.Errorf("audit event %+v, want denied", ev)
	}
}

func TestLoginRedirect(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		redirect   string
		query      string
		wantSecure bool
		wantPrompt string
	}{
		{"plain http", e.srv.URL + oidcapi.CallbackPath, "", false, ""},
		{"https behind a proxy", "https://registry.example.com" + oidcapi.CallbackPath, "", true, ""},
		{"new secret makes the provider ask again", e.srv.URL + oidcapi.CallbackPath, "?new_cli_secret=1", false, "login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := oidcapi.New(context.Background(), oidcapi.Config{Issuer: e.prov.issuer(), ClientID: testClientID,
				RedirectURL: tt.redirect}, access.NewService(e.store, access.Options{}), nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, oidcapi.LoginPath+tt.query, nil))
			if rec.Code != http.StatusFound {
				t.Fatalf("status %d, want 302", rec.Code)
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			q := loc.Query()
			if !strings.HasPrefix(loc.String(), e.prov.issuer()+"/authorize?") || q.Get("code_challenge_method") != "S256" ||
				q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" ||
				q.Get("redirect_uri") != tt.redirect || q.Get("scope") != "openid profile email" || q.Get("prompt") != tt.wantPrompt {
				t.Errorf("redirect to %s", loc)
			}
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("%d cookies set, want 1", len(cookies))
			}
			ck := cookies[0]
			got := []any{ck.HttpOnly, ck.Secure, ck.SameSite, ck.Path, ck.MaxAge > 0 && ck.MaxAge <= 900}
			want := []any{true, tt.wantSecure, http.SameSiteLaxMode, oidcapi.CallbackPath, true}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("cookie [HttpOnly Secure SameSite Path MaxAge-ok] (-want +got):\n%s", d)
			}
			for _, v := range []string{q.Get("state"), q.Get("nonce")} {
				if strings.Contains(ck.Value, v) {
					t.Error("the flow cookie is not encoded")
				}
			}
		})
	}
}

func TestNewChecksConfig(t *testing.T) {
	e := newEnv(t)
	svc := access.NewService(e.store, access.Options{})
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	good := oidcapi.Config{Issuer: e.prov.issuer(), ClientID: testClientID, RedirectURL: "https://r.example.com" + oidcapi.CallbackPath}
	tests := []struct {
		name  string
		edit  func(*oidcapi.Config)
		class error
	}{
		{"no issuer", func(c *oidcapi.Config) { c.Issuer = "" }, errdefs.ErrInvalid},
		{"no client id", func(c *oidcapi.Config) { c.ClientID = "" }, errdefs.ErrInvalid},
		{"relative redirect", func(c *oidcapi.Config) { c.RedirectURL = oidcapi.CallbackPath }, errdefs.ErrInvalid},
		{"unreachable issuer", func(c *oidcapi.Config) { c.Issuer = dead.URL }, errdefs.ErrUnavailable},
		{"issuer mismatch", func(c *oidcapi.Config) { c.Issuer = e.prov.issuer() + "/" }, errdefs.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := oidcapi.New(context.Background(), cfg, svc, nil)
			if !errors.Is(err, tt.class) {
				t.Errorf("err %v, want class %v", err, tt.class)
			}
		})
	}
}
