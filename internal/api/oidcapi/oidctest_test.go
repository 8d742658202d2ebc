package oidcapi_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// provider is a small but real OpenID Connect provider for tests, served
// on 127.0.0.1: discovery, JWKS, an /authorize that signs the configured
// identity in at once, and a /token that checks the code, the client
// secret and the PKCE verifier and returns an RS256 ID token.
type provider struct {
	t            *testing.T
	srv          *httptest.Server
	key          *rsa.PrivateKey // published in the JWKS
	otherKey     *rsa.PrivateKey // signs tokens when forge is set
	clientID     string
	clientSecret string

	mu     sync.Mutex
	claims map[string]any    // identity claims added to every ID token
	tweak  providerTweak     // how the next tokens go wrong
	codes  map[string]*grant // issued authorization codes
	issued []string          // every ID token issued, to check none leaks
}

// providerTweak makes the provider misbehave in one way.
type providerTweak struct {
	forge       bool          // sign with a key not in the JWKS
	audience    string        // "aud" instead of the client id
	expiresIn   time.Duration // exp - now, instead of 5 minutes
	nonce       string        // "nonce" instead of the one asked for
	issuer      string        // "iss" instead of the provider's
	authorizeEr string        // answer /authorize with this error code
}

// grant is what /authorize remembers of a code.
type grant struct {
	clientID, redirectURI, challenge, nonce string
	used                                    bool
}

// newProvider starts a provider for client id and secret with identity
// claims, stopped when the test ends.
func newProvider(t *testing.T, clientID, clientSecret string, claims map[string]any) *provider {
	t.Helper()
	p := &provider{t: t, key: rsaKey(t), otherKey: rsaKey(t), clientID: clientID, clientSecret: clientSecret,
		claims: claims, codes: map[string]*grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issuer is the provider's issuer URL.
func (p *provider) issuer() string { return p.srv.URL }

// set replaces the identity claims and the tweak for later sign-ins.
func (p *provider) set(claims map[string]any, tw providerTweak) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims, p.tweak = claims, tw
}

// idTokens returns every ID token issued so far.
func (p *provider) idTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

func (p *provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer(),
		"authorization_endpoint":                p.issuer() + "/authorize",
		"token_endpoint":                        p.issuer() + "/token",
		"jwks_uri":                              p.issuer() + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func (p *provider) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "test-key",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize signs the configured identity in at once and redirects back
// with a code (or with the tweak's error).
func (p *provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Host == "" || q.Get("client_id") != p.clientID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	p.mu.Lock()
	if p.tweak.authorizeEr != "" {
		back.Set("error", p.tweak.authorizeEr)
	} else {
		code := b64(randomBytes(p.t))
		p.codes[code] = &grant{clientID: p.clientID, redirectURI: q.Get("redirect_uri"),
			challenge: q.Get("code_challenge"), nonce: q.Get("nonce")}
		back.Set("code", code)
	}
	p.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token redeems a code once, for the client that asked for it, with the
// PKCE verifier matching its challenge.
func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.clientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.codes[r.PostForm.Get("code")]
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if r.PostForm.Get("grant_type") != "authorization_code" || g == nil || g.used || g.clientID != id ||
		g.redirectURI != r.PostForm.Get("redirect_uri") || b64(sum[:]) != g.challenge {
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	g.used = true
	idToken := p.idToken(g.nonce)
	p.issued = append(p.issued, idToken)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": b64(randomBytes(p.t)), "token_type": "Bearer",
		"expires_in": 300, "id_token": idToken})
}

// idToken signs an ID token for the configured identity, as the tweak
// says. p.mu is held.
func (p *provider) idToken(nonce string) string {
	now := time.Now()
	claims := map[string]any{"iss": p.issuer(), "aud": p.clientID, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "nonce": nonce}
	for k, v := range p.claims {
		claims[k] = v
	}
	tw, key := p.tweak, p.key
	if tw.forge {
		key = p.otherKey
	}
	if tw.audience != "" {
		claims["aud"] = tw.audience
	}
	if tw.expiresIn != 0 {
		claims["exp"] = now.Add(tw.expiresIn).Unix()
	}
	if tw.nonce != "" {
		claims["nonce"] = tw.nonce
	}
	if tw.issuer != "" {
		claims["iss"] = tw.issuer
	}
	return signJWT(p.t, key, claims)
}

// signJWT returns claims as a compact RS256 JWS with key id test-key.
func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "test-key"})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signed := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + b64(sig)
}

func randomBytes(t *testing.T) []byte {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Error(err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func tokenError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
