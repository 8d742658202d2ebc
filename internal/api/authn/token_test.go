package authn_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/auth"
)

// tokenBody is a token endpoint answer, success or OAuth2 error.
type tokenBody struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

func decodeToken(t *testing.T, r *response) tokenBody {
	t.Helper()
	var b tokenBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("token endpoint body %s: %v", r.body, err)
	}
	return b
}

// postForm posts an OAuth2 form to the token endpoint.
func (e *env) postForm(t *testing.T, form url.Values) *response {
	t.Helper()
	return e.raw(t, "POST", "/auth/token", []byte(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

func TestTokenEndpointGET(t *testing.T) {
	w := newWorld(t)
	dev := w.callers["dev"]
	get := func(t *testing.T, query string, hdr ...string) *response {
		t.Helper()
		return w.raw(t, "GET", "/auth/token?"+query, nil, hdr...)
	}
	t.Run("docker login shape", func(t *testing.T) {
		r := get(t, "service=berth&scope=repository:alpha/app:pull&account=dev", "Authorization", basicAuth(dev.user, dev.pass))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
		b := decodeToken(t, r)
		if b.Token == "" || b.Token != b.AccessToken || b.ExpiresIn <= 0 || b.RefreshToken != "" {
			t.Errorf("response %+v: want token = access_token, expires_in > 0, no refresh token", b)
		}
		if _, err := time.Parse(time.RFC3339, b.IssuedAt); err != nil {
			t.Errorf("issued_at %q: %v", b.IssuedAt, err)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
		}
	})
	t.Run("offline token for a signed-in caller only", func(t *testing.T) {
		r := get(t, "service=berth&offline_token=true", "Authorization", basicAuth(dev.user, dev.pass))
		if b := decodeToken(t, r); b.RefreshToken == "" {
			t.Errorf("no refresh token: %s", r.body)
		}
		if b := decodeToken(t, get(t, "service=berth&offline_token=true")); b.RefreshToken != "" || b.Token == "" {
			t.Errorf("anonymous offline request: %+v, want a token and no refresh token", b)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		r := get(t, "service=berth&scope=repository:pub/app:pull", "Authorization", basicAuth("dev", "wrong-password"))
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%d %s, want 401", r.StatusCode, r.body)
		}
		fails := w.audit.find("login")
		if l := last(fails, 1); len(l) != 1 || l[0].Outcome != "failure" || l[0].Actor != "dev" || l[0].Remote != "127.0.0.1" {
			t.Errorf("last login event %+v, want dev's failure from 127.0.0.1", l)
		}
	})
	t.Run("empty Basic credentials are anonymous, not a failed login", func(t *testing.T) {
		fails := len(w.audit.find("login"))
		r := get(t, "service=berth&scope=repository:pub/app:pull", "Authorization", basicAuth("", ""))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%d %s, want 200", r.StatusCode, r.body)
		}
		if got := claimsOf(t, decodeToken(t, r).Token); len(got) != 1 || got[0].Name != "pub/app" {
			t.Errorf("granted %+v, want pull on pub/app", got)
		}
		if v := w.raw(t, "GET", "/v2/pub/app/manifests/v1", nil, "Authorization", basicAuth("", "")); v.StatusCode != http.StatusOK {
			t.Errorf("anonymous pull with empty Basic credentials: %d", v.StatusCode)
		}
		if n := len(w.audit.find("login")); n != fails {
			t.Errorf("%d login events recorded for empty credentials", n-fails)
		}
	})
	t.Run("another service", func(t *testing.T) {
		if r := get(t, "service=other&scope=repository:pub/app:pull"); r.StatusCode != http.StatusBadRequest {
			t.Errorf("%d %s, want 400", r.StatusCode, r.body)
		}
	})
	t.Run("issue is audited", func(t *testing.T) {
		get(t, "service=berth&scope=repository:alpha/app:pull,push,delete", "Authorization", basicAuth(dev.user, dev.pass))
		l := last(w.audit.find("token.issue"), 1)
		if len(l) != 1 || l[0].Actor != "dev" || l[0].Detail != "repository:alpha/app:pull,push" {
			t.Errorf("token.issue events %+v, want dev granted repository:alpha/app:pull,push", l)
		}
		l = last(w.audit.find("login"), 1)
		if len(l) != 1 || l[0].Outcome != "success" || l[0].Actor != "dev" {
			t.Errorf("login events %+v, want dev's success", l)
		}
	})
	t.Run("jwks", func(t *testing.T) {
		r := w.raw(t, "GET", "/auth/jwks.json", nil)
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
				Kty string `json:"kty"`
			} `json:"keys"`
		}
		if err := json.Unmarshal(r.body, &set); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("%d %s: %v", r.StatusCode, r.body, err)
		}
		kid, _ := w.signingKey(t)
		found := false
		for _, k := range set.Keys {
			found = found || (k.Kid == kid && k.Kty == "EC")
		}
		if !found {
			t.Errorf("JWKS %s lacks the current key %s", r.body, kid)
		}
	})
}

func TestTokenEndpointPOST(t *testing.T) {
	w := newWorld(t)
	dev := w.callers["dev"]
	password := url.Values{"grant_type": {"password"}, "username": {dev.user}, "password": {dev.pass},
		"service": {"berth"}, "client_id": {"containerd"}, "scope": {"repository:alpha/app:pull repository:alpha/app:push"}}
	var refresh string
	t.Run("password grant", func(t *testing.T) {
		form := cloneValues(password)
		form.Set("access_type", "offline")
		r := w.postForm(t, form)
		b := decodeToken(t, r)
		if r.StatusCode != http.StatusOK || b.AccessToken == "" || b.RefreshToken == "" {
			t.Fatalf("%d %s, want an access and a refresh token", r.StatusCode, r.body)
		}
		got := claimsOf(t, b.AccessToken)
		if len(got) != 1 || strings.Join(got[0].Actions, ",") != "pull,push" {
			t.Errorf("granted %+v, want pull,push on alpha/app", got)
		}
		refresh = b.RefreshToken
		if r := w.raw(t, "GET", "/v2/alpha/app/manifests/v1", nil, "Authorization", "Bearer "+b.AccessToken); r.StatusCode != http.StatusOK {
			t.Errorf("pull with the token: %d", r.StatusCode)
		}
	})
	tests := []struct {
		name   string
		form   url.Values
		status int
		oauth  string
	}{
		{"wrong password", with(password, "password", "wrong-password"), 400, "invalid_grant"},
		{"unknown user", with(password, "username", "nobody"), 400, "invalid_grant"},
		{"no username", with(password, "username", ""), 400, "invalid_request"},
		{"unknown grant", with(password, "grant_type", "client_credentials"), 400, "unsupported_grant_type"},
		{"garbage refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x.y.z"}}, 400, "invalid_grant"},
		{"another service", with(password, "service", "other"), 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.postForm(t, tt.form)
			if b := decodeToken(t, r); r.StatusCode != tt.status || b.Error != tt.oauth || b.AccessToken != "" {
				t.Errorf("%d %s, want %d %s", r.StatusCode, r.body, tt.status, tt.oauth)
			}
		})
	}
	t.Run("body limit", func(t *testing.T) {
		r := w.raw(t, "POST", "/auth/token", []byte("grant_type=password&username="+strings.Repeat("a", 70<<10)),
			"Content-Type", "application/x-www-form-urlencoded")
		if r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%d %s, want 413", r.StatusCode, r.body)
		}
	})
	t.Run("refresh grant", func(t *testing.T) {
		if refresh == "" {
			t.Skip("no refresh token")
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "service": {"berth"},
			"scope": {"repository:alpha/app:pull,delete"}}
		r := w.postForm(t, form)
		b := decodeToken(t, r)
		if r.StatusCode != http.StatusOK || b.RefreshToken != refresh {
			t.Fatalf("%d %s, want a token and the same refresh token", r.StatusCode, r.body)
		}
		if got := claimsOf(t, b.AccessToken); len(got) != 1 || strings.Join(got[0].Actions, ",") != "pull" {
			t.Errorf("granted %+v, want only pull (dev may not delete)", got)
		}
		// An access token is no refresh token.
		r = w.postForm(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {b.AccessToken}})
		if r.StatusCode != http.StatusBadRequest || decodeToken(t, r).Error != "invalid_grant" {
			t.Errorf("access token as refresh token: %d %s", r.StatusCode, r.body)
		}
		// Disabling the account revokes its refresh tokens.
		disabled := true
		if _, err := w.access.UpdateUser(context.Background(), sysAdmin, "dev", access.UserChange{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		r = w.postForm(t, form)
		if r.StatusCode != http.StatusBadRequest || decodeToken(t, r).Error != "invalid_grant" {
			t.Errorf("refresh for a disabled account: %d %s, want 400 invalid_grant", r.StatusCode, r.body)
		}
	})
}

// TestLoginRateLimit: once the limiter trips, the token endpoint and /v2
// answer 429 with Retry-After.
func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, func(o *auth.AuthOptions) { o.MaxFailures = 2 })
	bad := basicAuth(admin.user, "wrong-password")
	for range 2 {
		if r := e.raw(t, "GET", "/auth/token?service=berth", nil, "Authorization", bad); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed login: %d %s, want 401", r.StatusCode, r.body)
		}
	}
	for _, path := range []string{"/auth/token?service=berth", "/v2/"} {
		r := e.raw(t, "GET", path, nil, "Authorization", bad)
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s after the limit: %d (Retry-After %q), want 429 with Retry-After", path, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
	form := url.Values{"grant_type": {"password"}, "username": {admin.user}, "password": {"wrong-password"}}
	r := e.postForm(t, form)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("POST after the limit: %d %s, want 429 with Retry-After", r.StatusCode, r.body)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// with returns a copy of v with key set to value.
func with(v url.Values, key, value string) url.Values {
	out := cloneValues(v)
	out.Set(key, value)
	return out
}
