package berthtest

import (
	"net/http"
	"strings"
)

// The system administrator every test server is started with: Start and
// StartProcess set admin_password (BERTH_ADMIN_PASSWORD) to AdminPassword
// unless the test sets it itself, and the servers' Client and Registry sign
// in as AdminUser, so tests that are not about access control keep working
// with authentication on, as it always is.
const (
	AdminUser     = "admin"
	AdminPassword = "berthtest-admin-password"
)

// basicAuth adds HTTP Basic credentials to requests for Berth's own APIs
// (/v2, /api, /auth) that carry no Authorization header. Other requests
// (a presigned S3 URL a blob GET redirected to) go out untouched: they
// authenticate in their own way.
type basicAuth struct {
	next       http.RoundTripper
	user, pass string
}

func (b *basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	p := r.URL.Path
	if r.Header.Get("Authorization") != "" || !(p == "/v2" || strings.HasPrefix(p, "/v2/") ||
		strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/auth/")) {
		return b.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return b.next.RoundTrip(r)
}

// WithCredentials returns a copy of c that signs in as user with password
// on Berth's APIs (replacing the admin credentials of a server's Client).
func WithCredentials(c *http.Client, user, password string) *http.Client {
	out := *c
	tr := c.Transport
	if b, ok := tr.(*basicAuth); ok {
		tr = b.next
	}
	if tr == nil {
		tr = http.DefaultTransport
	}
	out.Transport = &basicAuth{next: tr, user: user, pass: password}
	return &out
}

// Anonymous returns a copy of c that sends no credentials.
func Anonymous(c *http.Client) *http.Client {
	out := *c
	if b, ok := c.Transport.(*basicAuth); ok {
		out.Transport = b.next
	}
	return &out
}
