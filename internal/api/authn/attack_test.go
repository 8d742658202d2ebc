package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// signingKey returns the id and private key the token service signs with
// now, read from the store as every replica reads it.
func (e *env) signingKey(t *testing.T) (string, *ecdsa.PrivateKey) {
	t.Helper()
	keys, err := e.store.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			priv, err := x509.ParsePKCS8PrivateKey(k.Private)
			if err != nil {
				t.Fatal(err)
			}
			return k.ID, priv.(*ecdsa.PrivateKey)
		}
	}
	t.Fatal("no current signing key")
	return "", nil
}

func TestForgedTokens(t *testing.T) {
	w := newWorld(t)
	kid, key := w.signingKey(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": "berth", "aud": w.tokens.Service(), "sub": "admin", "kind": "user", "use": "access",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"access": []auth.ResourceActions{{Type: "repository", Name: "alpha/app", Actions: []string{"pull"}}},
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	sign := func(method jwt.SigningMethod, kid string, c jwt.MapClaims, k any) string {
		tok := jwt.NewWithClaims(method, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"well formed (control)", sign(jwt.SigningMethodES256, kid, claims(nil), key), true},
		{"signed with another key", sign(jwt.SigningMethodES256, kid, claims(nil), other), false},
		{"unknown kid", sign(jwt.SigningMethodES256, "no-such-key", claims(nil), key), false},
		{"expired", sign(jwt.SigningMethodES256, kid, claims(func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		}), key), false},
		{"not yet valid", sign(jwt.SigningMethodES256, kid, claims(func(c jwt.MapClaims) {
			c["nbf"] = now.Add(10 * time.Minute).Unix()
		}), key), false},
		{"wrong audience", sign(jwt.SigningMethodES256, kid, claims(func(c jwt.MapClaims) { c["aud"] = "another-registry" }), key), false},
		{"wrong issuer", sign(jwt.SigningMethodES256, kid, claims(func(c jwt.MapClaims) { c["iss"] = "evil" }), key), false},
		{"refresh token used for access", sign(jwt.SigningMethodES256, kid, claims(func(c jwt.MapClaims) { c["use"] = "refresh" }), key), false},
		{"alg none", sign(jwt.SigningMethodNone, kid, claims(nil), jwt.UnsafeAllowNoneSignatureType), false},
		{"HS256 keyed with the public key", sign(jwt.SigningMethodHS256, kid, claims(nil), pub), false},
		{"garbage", "not.a.token", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.raw(t, "GET", "/v2/alpha/app/manifests/v1", nil, "Authorization", "Bearer "+tt.token)
			if tt.ok {
				if r.StatusCode != http.StatusOK {
					t.Fatalf("status %d (%s), want 200", r.StatusCode, r.body)
				}
				return
			}
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d (%s), want 401", r.StatusCode, r.body)
			}
			if !containsErr(r, "invalid_token") {
				t.Errorf("challenge %q, want error=invalid_token", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestScopeEscalation asks the token endpoint for more than callers may do:
// the token carries only what they may, and the registry refuses the rest.
func TestScopeEscalation(t *testing.T) {
	w := newWorld(t)
	realm := w.url + "/auth/token"
	pull := func(repo string, actions ...string) []auth.ResourceActions {
		return []auth.ResourceActions{{Type: "repository", Name: repo, Actions: actions}}
	}
	tests := []struct {
		caller string
		scopes []string
		want   []auth.ResourceActions
	}{
		{"alpha-puller", []string{"repository:alpha/app:pull,push,delete"}, pull("alpha/app", "pull")},
		{"alpha-puller", []string{"repository:alpha/app:*"}, pull("alpha/app", "pull")},
		{"alpha-puller", []string{"repository:beta/app:pull"}, nil},
		{"dev", []string{"repository:alpha/app:push,delete,pull"}, pull("alpha/app", "pull", "push")},
		{"guest", []string{"repository(plugin):alpha/app:pull,push"}, pull("alpha/app", "pull")},
		{"outsider", []string{"repository:alpha/app:pull", "registry:catalog:*"},
			[]auth.ResourceActions{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
		{"anonymous", []string{"repository:pub/app:pull,push", "repository:alpha/app:pull", "registry:catalog:*"}, pull("pub/app", "pull")},
		{"anonymous", []string{"repository:pub/../alpha/app:pull", "repository:Alpha/app:pull", "nonsense"}, nil},
		{"admin", []string{"repository:alpha/app:pull", "repository:alpha/app:delete"}, pull("alpha/app", "pull", "delete")},
	}
	for _, tt := range tests {
		t.Run(tt.caller+"/"+tt.scopes[0], func(t *testing.T) {
			tok := w.token(t, w.callers[tt.caller], realm, w.tokens.Service(), tt.scopes...)
			if diff := cmp.Diff(tt.want, claimsOf(t, tok)); diff != "" {
				t.Errorf("granted (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("the registry refuses what was not granted", func(t *testing.T) {
		tok := w.token(t, w.callers["alpha-puller"], realm, w.tokens.Service(), "repository:alpha/app:pull,push")
		img := newImage(t, "escalation")
		for _, req := range []struct {
			method, path string
			body         []byte
		}{
			{"POST", "/v2/alpha/app/blobs/uploads/?digest=" + digest.FromBytes(img.config).String(), img.config},
			{"PUT", "/v2/alpha/app/manifests/v2", img.manifest},
			{"GET", "/v2/alpha/other/manifests/v1", nil},
			{"GET", "/v2/beta/app/manifests/v1", nil},
		} {
			r := w.raw(t, req.method, req.path, req.body, "Authorization", "Bearer "+tok)
			if r.StatusCode != http.StatusUnauthorized || !containsErr(r, "insufficient_scope") {
				t.Errorf("%s %s: %d %q, want 401 insufficient_scope", req.method, req.path, r.StatusCode, r.Header.Get("WWW-Authenticate"))
			}
		}
		r := w.raw(t, "DELETE", "/v2/alpha/app/manifests/v1", nil, "Authorization", "Bearer "+tok)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("DELETE with a pull token: %d, want 401", r.StatusCode)
		}
		if r := w.raw(t, "GET", "/v2/alpha/app/manifests/v1", nil, "Authorization", "Bearer "+tok); r.StatusCode != http.StatusOK {
			t.Errorf("pull with the pull token: %d, want 200", r.StatusCode)
		}
	})
}

// TestDigestGuessing: a blob pushed in alpha cannot be read, stat'ed or
// mounted by a caller of beta who knows its digest.
func TestDigestGuessing(t *testing.T) {
	w := newWorld(t)
	beta := w.callers["beta-ci"]
	d := w.alpha.layerDigest
	unknown := digest.FromString("in no repository")
	tests := []struct {
		name, method, path string
		basic, token       int // status with Basic and with a token
	}{
		{"GET in alpha", "GET", "/v2/alpha/app/blobs/" + d.String(), 403, 401},
		{"HEAD in alpha", "HEAD", "/v2/alpha/app/blobs/" + d.String(), 403, 401},
		{"unknown digest in alpha answers the same", "GET", "/v2/alpha/app/blobs/" + unknown.String(), 403, 401},
		{"repository that does not exist answers the same", "GET", "/v2/alpha/nothing/blobs/" + d.String(), 403, 401},
		{"GET through beta", "GET", "/v2/beta/app/blobs/" + d.String(), 404, 404},
		{"HEAD through beta", "HEAD", "/v2/beta/app/blobs/" + d.String(), 404, 404},
		{"mount from alpha", "POST", "/v2/beta/stolen/blobs/uploads/?mount=" + d.String() + "&from=alpha/app", 202, 202},
		{"mount from anywhere", "POST", "/v2/beta/stolen/blobs/uploads/?mount=" + d.String(), 202, 202},
		{"mount then read", "GET", "/v2/beta/stolen/blobs/" + d.String(), 404, 404},
	}
	for _, m := range []mode{basicMode, tokenMode} {
		for _, tt := range tests {
			t.Run(string(m)+"/"+tt.name, func(t *testing.T) {
				want := tt.basic
				if m == tokenMode {
					want = tt.token
				}
				r := w.send(t, beta, m, tt.method, tt.path, nil, []string{"repository:alpha/app:pull"})
				if r.StatusCode != want {
					t.Errorf("status %d (%s), want %d", r.StatusCode, r.body, want)
				}
			})
		}
	}
}

// TestPathTricks: names that try to step out of a repository the caller may
// read are refused, and a name is authorized exactly as it is served.
func TestPathTricks(t *testing.T) {
	w := newWorld(t)
	beta := w.callers["beta-ci"]
	d := w.alpha.layerDigest.String()
	tests := []struct {
		path string
		want int
	}{
		{"/v2/beta/../alpha/app/manifests/v1", 400},
		{"/v2/beta/%2e%2e/alpha/app/manifests/v1", 400},
		{"/v2/beta/app/../../alpha/app/blobs/" + d, 400},
		{"/v2/beta//alpha/app/manifests/v1", 400},
		{"/v2//alpha/app/manifests/v1", 400},
		{"/v2/./alpha/app/manifests/v1", 400},
		{"/v2/Alpha/app/manifests/v1", 400},
		{"/v2/BETA/app/manifests/v1", 400},
		{"/v2/alpha%2Fapp/manifests/v1", 403}, // the decoded name, alpha/app, is what is authorized
		{"/v2/beta%2Fapp/manifests/v1", 200},
		{"/v2/beta/app/manifests/v1", 200},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := w.send(t, beta, basicMode, "GET", tt.path, nil, nil)
			if r.StatusCode != tt.want {
				t.Errorf("status %d (%s), want %d", r.StatusCode, r.body, tt.want)
			}
		})
	}
}
