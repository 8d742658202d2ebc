package oidcapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// flowCookie carries one sign-in's flow between login and callback.
const flowCookie = "berth_oidc_flow"

// flowTTL is how long a browser has to come back from the provider.
const flowTTL = 10 * time.Minute

// flowMACLabel separates this MAC's purpose from any other use of a key.
const flowMACLabel = "berth oidc flow v1\n"

// flow is what the callback must know of the login that started it. The
// cookie holding it is signed, not encrypted: the PKCE verifier in it is of
// no use without the code, which only reaches the redirect URL, and the
// state and nonce are sent to the provider in the clear anyway.
type flow struct {
	State     string `json:"s"`
	Nonce     string `json:"n"`
	Verifier  string `json:"v"`
	NewSecret bool   `json:"c,omitempty"`
	Expires   int64  `json:"e"` // Unix seconds
}

// newFlow makes a flow with fresh random state, nonce and verifier.
func newFlow(now time.Time, newSecret bool) (flow, error) {
	state, err := randomString()
	if err != nil {
		return flow{}, err
	}
	nonce, err := randomString()
	if err != nil {
		return flow{}, err
	}
	return flow{
		State:     state,
		Nonce:     nonce,
		Verifier:  oauth2.GenerateVerifier(),
		NewSecret: newSecret,
		Expires:   now.Add(flowTTL).Unix(),
	}, nil
}

// randomString returns 32 random bytes, base64url-encoded.
func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// encode returns the cookie value: the JSON of f and its MAC under key,
// each base64url-encoded, joined by a dot.
func (f flow) encode(key []byte) string {
	payload, _ := json.Marshal(f) // a struct of strings cannot fail
	body := base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(flowMAC(key, body))
}

// flowMAC is the HMAC-SHA256 of a cookie body.
func flowMAC(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(flowMACLabel))
	m.Write([]byte(body))
	return m.Sum(nil)
}

// readFlow returns the flow in r's cookie if its MAC is right under key
// and it has not expired at now.
func readFlow(r *http.Request, key []byte, now time.Time) (flow, error) {
	c, err := r.Cookie(flowCookie)
	if err != nil {
		return flow{}, errors.New("no sign-in cookie")
	}
	body, mac, ok := strings.Cut(c.Value, ".")
	if !ok {
		return flow{}, errors.New("malformed sign-in cookie")
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, flowMAC(key, body)) {
		return flow{}, errors.New("sign-in cookie signature does not verify")
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return flow{}, errors.New("malformed sign-in cookie")
	}
	var f flow
	if err := json.Unmarshal(payload, &f); err != nil {
		return flow{}, errors.New("malformed sign-in cookie")
	}
	if now.Unix() > f.Expires {
		return flow{}, errors.New("sign-in cookie expired")
	}
	if f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return flow{}, errors.New("incomplete sign-in cookie")
	}
	return f, nil
}

// stateMatches compares the state the provider sent back, in constant time.
func (f flow) stateMatches(s string) bool {
	return s != "" && subtle.ConstantTimeCompare([]byte(s), []byte(f.State)) == 1
}

// nonceMatches compares the ID token's nonce, in constant time.
func (f flow) nonceMatches(n string) bool {
	return n != "" && subtle.ConstantTimeCompare([]byte(n), []byte(f.Nonce)) == 1
}
