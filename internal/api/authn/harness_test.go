package authn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/authn"
	"github.com/berth-registry/berth/internal/api/oci"
	"github.com/berth-registry/berth/internal/api/tokenapi"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The tests run the real parts as the server will wire them: a SQLite
// file, a blob directory, the registry, access and auth services, the
// guard, the /v2 handler and the token endpoint, behind an httptest server
// on 127.0.0.1, and talk to it with plain net/http.

// env is one running server and the services under it.
type env struct {
	t      *testing.T
	url    string
	store  *sqlite.Store
	access *access.Service
	tokens *auth.TokenService
	audit  *auditLog
	hc     *http.Client
}

// admin is the system administrator every env starts with.
var admin = caller{name: "admin", user: "admin", pass: "admin-password-1"}

// newEnv starts a server; edit may change the authenticator's options.
func newEnv(t *testing.T, edit ...func(*auth.AuthOptions)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := filesystem.New(filepath.Join(dir, "blobs"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := &auditLog{}
	svc := registry.New(store, blobs, registry.Options{CanMountFrom: authn.CanMountFrom})
	acc := access.NewService(store, access.Options{AutoCreate: access.AutoCreateAdmins})
	tokens, err := auth.NewTokenService(ctx, store, auth.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	aopts := auth.AuthOptions{Tokens: tokens}
	for _, e := range edit {
		e(&aopts)
	}
	authr := auth.NewAuthenticator(store, aopts)
	guard := authn.New(authn.Options{Auth: authr, Tokens: tokens, Access: acc, Audit: log.record})
	v2 := oci.New(svc, oci.Options{Guard: guard, Audit: log.record})
	tok := tokenapi.New(tokenapi.Options{Auth: authr, Tokens: tokens, Access: acc, Audit: log.record})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2") {
			v2.ServeHTTP(w, r)
			return
		}
		tok.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	if _, _, err := acc.EnsureAdmin(ctx, admin.pass); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, url: srv.URL, store: store, access: acc, tokens: tokens, audit: log,
		hc: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// sysAdmin is the principal fixtures are created as.
var sysAdmin = access.Principal{Kind: access.UserKind, Name: "admin", SysAdmin: true}

// caller is who sends a request: user "" is anonymous.
type caller struct {
	name, user, pass string
}

// mode is how a caller authenticates.
type mode string

const (
	basicMode mode = "basic" // HTTP Basic on every request
	tokenMode mode = "token" // the docker flow: challenge, token endpoint, Bearer
)

// response is a finished response with its body.
type response struct {
	*http.Response
	body []byte
}

// raw sends a request with the given headers (name/value pairs).
func (e *env) raw(t *testing.T, method, path string, body []byte, hdr ...string) *response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = e.url + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Response: resp, body: b}
}

// send sends a request as c in mode m. In token mode it first asks
// without credentials and, when challenged, gets a token for the
// challenge's scope plus extra from the realm (with c's Basic credentials)
// and asks again with it, as docker does.
func (e *env) send(t *testing.T, c caller, m mode, method, path string, body []byte, extra []string, hdr ...string) *response {
	t.Helper()
	if m == basicMode {
		if c.user != "" {
			hdr = append(hdr, "Authorization", basicAuth(c.user, c.pass))
		}
		return e.raw(t, method, path, body, hdr...)
	}
	r := e.raw(t, method, path, body, hdr...)
	if r.StatusCode != http.StatusUnauthorized {
		return r
	}
	ch := parseChallenge(r.Header.Get("WWW-Authenticate"))
	if ch["realm"] == "" {
		t.Fatalf("%s %s: 401 without a Bearer challenge: %q", method, path, r.Header.Get("WWW-Authenticate"))
	}
	scopes := extra
	if ch["scope"] != "" {
		scopes = append([]string{ch["scope"]}, extra...)
	}
	tok := e.token(t, c, ch["realm"], ch["service"], scopes...)
	return e.raw(t, method, path, body, append(hdr, "Authorization", "Bearer "+tok)...)
}

// token gets a token for scopes from realm as c, failing unless it is
// issued.
func (e *env) token(t *testing.T, c caller, realm, service string, scopes ...string) string {
	t.Helper()
	q := url.Values{"service": {service}, "scope": scopes}
	var hdr []string
	if c.user != "" {
		hdr = []string{"Authorization", basicAuth(c.user, c.pass)}
	}
	r := e.raw(t, "GET", realm+"?"+q.Encode(), nil, hdr...)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("token for %s %v: status %d: %s", c.name, scopes, r.StatusCode, r.body)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Token == "" {
		t.Fatalf("token response %s: %v", r.body, err)
	}
	return body.Token
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// parseChallenge returns the parameters of a Bearer challenge.
func parseChallenge(h string) map[string]string {
	out := map[string]string{}
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return out
	}
	for _, m := range challengeParam.FindAllStringSubmatch(rest, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// claimsOf decodes the access claim of a token without verifying it.
func claimsOf(t *testing.T, tok string) []auth.ResourceActions {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Access []auth.ResourceActions `json:"access"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c.Access
}

// auditLog collects audit events.
type auditLog struct {
	mu     sync.Mutex
	events []meta.AuditEvent
}

func (a *auditLog) record(_ context.Context, e meta.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

// find returns the events of action, in order.
func (a *auditLog) find(action string) []meta.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []meta.AuditEvent
	for _, e := range a.events {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// image is a manifest and the blobs it names.
type image struct {
	config, layer, manifest []byte
	layerDigest             digest.Digest
}

// newImage returns an image whose content is unique to seed.
func newImage(t *testing.T, seed string) image {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","seed":"` + seed + `"}`)
	layer := []byte("layer of " + seed)
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:    []v1.Descriptor{{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return image{config: cfg, layer: layer, manifest: body, layerDigest: digest.FromBytes(layer)}
}

// push uploads img to repo:tag as c in mode m and returns the first
// response that failed, or the manifest PUT's.
func (e *env) push(t *testing.T, c caller, m mode, repo, tag string, img image) *response {
	t.Helper()
	for _, b := range [][]byte{img.config, img.layer} {
		r := e.send(t, c, m, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), b, nil)
		if r.StatusCode != http.StatusCreated {
			return r
		}
	}
	return e.send(t, c, m, "PUT", "/v2/"+repo+"/manifests/"+tag, img.manifest, nil, "Content-Type", v1.MediaTypeImageManifest)
}

// mustPush pushes as the admin and fails unless it worked.
func (e *env) mustPush(t *testing.T, repo, tag string, img image) {
	t.Helper()
	if r := e.push(t, admin, basicMode, repo, tag, img); r.StatusCode != http.StatusCreated {
		t.Fatalf("push %s:%s as admin: %d %s", repo, tag, r.StatusCode, r.body)
	}
}
