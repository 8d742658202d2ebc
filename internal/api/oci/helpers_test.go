package oci_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/config"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// These tests drive a whole in-process server (berthtest.Start) over real
// HTTP on 127.0.0.1 with plain net/http, and look at what a client sees:
// status, OCI error code, headers and body.

// client talks to one test server. It never follows redirects, so a 3xx is
// seen as such.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
	// srv is the server, when the client was made by startServer.
	srv *berthtest.Server
}

// startServer runs a fresh server for the calling test and returns a client
// for it.
func startServer(t testing.TB, edit ...func(*config.Config)) *client {
	t.Helper()
	srv := berthtest.Start(t, edit...)
	c := newClient(t, srv.URL)
	c.srv = srv
	return c
}

// newClient returns a client of the server at base that signs in as the
// test server's administrator: these tests are about the API, not about who
// may use it (package authn tests that).
func newClient(t testing.TB, base string) *client {
	hc := &http.Client{
		Transport:     http.DefaultTransport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &client{t: t, base: base, hc: berthtest.WithCredentials(hc, berthtest.AdminUser, berthtest.AdminPassword)}
}

// with returns a copy of c that reports failures to t (a subtest).
func (c *client) with(t testing.TB) *client {
	cc := *c
	cc.t = t
	return &cc
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body []byte
}

// do sends a request; hdr holds header name/value pairs. A nil body sends
// no body (Content-Length 0 on methods that carry one).
func (c *client) do(method, path string, body []byte, hdr ...string) *response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url(path), rd)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return c.send(req)
}

// send sends req and reads the whole response.
func (c *client) send(req *http.Request) *response {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return &response{Response: resp, body: b}
}

// url resolves path (absolute, or a full URL as found in Location and
// Link) against the server.
func (c *client) url(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return c.base + path
}

// envelope is the spec's error body.
type envelope struct {
	Errors []struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	} `json:"errors"`
}

// errorBody decodes the error envelope of r, failing if it is not one.
func errorBody(t testing.TB, r *response) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(r.body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("%s %s: body %q is not an OCI error envelope (err %v)", r.Request.Method, r.Request.URL.Path, r.body, err)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	return e
}

// wantStatus fails unless r has status want.
func wantStatus(t testing.TB, r *response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %q", r.Request.Method, r.Request.URL.RequestURI(), r.StatusCode, want, clip(r.body))
	}
}

// wantError fails unless r has status and the OCI error code (checked in
// the body unless the request was a HEAD). It returns the message.
func wantError(t testing.TB, r *response, status int, code string) string {
	t.Helper()
	wantStatus(t, r, status)
	if r.Request.Method == http.MethodHead {
		if len(r.body) != 0 {
			t.Errorf("HEAD error response has a body: %q", r.body)
		}
		return ""
	}
	e := errorBody(t, r)
	if got := e.Errors[0].Code; got != code {
		t.Errorf("%s %s: error code %s, want %s (message %q)", r.Request.Method, r.Request.URL.RequestURI(), got, code, e.Errors[0].Message)
	}
	if e.Errors[0].Message == "" {
		t.Errorf("error %s has no message", code)
	}
	return e.Errors[0].Message
}

// wantHeader fails unless header name of r is want.
func wantHeader(t testing.TB, r *response, name, want string) {
	t.Helper()
	if got := r.Header.Get(name); got != want {
		t.Errorf("%s %s: header %s = %q, want %q", r.Request.Method, r.Request.URL.RequestURI(), name, got, want)
	}
}

// pushBlob uploads data to repo in one POST and returns its digest.
func (c *client) pushBlob(repo string, data []byte) digest.Digest {
	c.t.Helper()
	d := digest.FromBytes(data)
	r := c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data)
	wantStatus(c.t, r, http.StatusCreated)
	return d
}

// startUpload opens an upload session in repo and returns its Location.
func (c *client) startUpload(repo string) string {
	c.t.Helper()
	r := c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	wantStatus(c.t, r, http.StatusAccepted)
	loc := r.Header.Get("Location")
	if loc == "" {
		c.t.Fatal("upload POST returned no Location")
	}
	return loc
}

// putManifest pushes body as a manifest of media type mt under ref and
// returns the response.
func (c *client) putManifest(repo, ref, mt string, body []byte) *response {
	c.t.Helper()
	return c.do("PUT", "/v2/"+repo+"/manifests/"+ref, body, "Content-Type", mt)
}

// pushManifest pushes a manifest and fails unless it is created.
func (c *client) pushManifest(repo, ref, mt string, body []byte) digest.Digest {
	c.t.Helper()
	r := c.putManifest(repo, ref, mt, body)
	wantStatus(c.t, r, http.StatusCreated)
	return digest.Digest(r.Header.Get("Docker-Content-Digest"))
}

// image is a pushed (or ready to push) image manifest and its parts.
type image struct {
	config   []byte
	layers   [][]byte
	manifest []byte
	digest   digest.Digest
}

// mediaType is the media type the image manifest is pushed with.
func (*image) mediaType() string { return v1.MediaTypeImageManifest }

// desc describes b with media type mt.
func desc(mt string, b []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// mustJSON marshals v or fails the test.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// newImage builds an OCI image manifest whose config and layers are
// derived from seed; edit may change the manifest before it is encoded.
func newImage(t testing.TB, seed string, edit ...func(*v1.Manifest)) *image {
	t.Helper()
	img := &image{
		config: []byte(`{"architecture":"amd64","os":"linux","seed":"` + seed + `"}`),
		layers: [][]byte{[]byte("layer one of " + seed), []byte("layer two of " + seed)},
	}
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    desc(v1.MediaTypeImageConfig, img.config),
	}
	for _, l := range img.layers {
		m.Layers = append(m.Layers, desc(v1.MediaTypeImageLayerGzip, l))
	}
	for _, e := range edit {
		e(&m)
	}
	img.manifest = mustJSON(t, m)
	img.digest = digest.FromBytes(img.manifest)
	return img
}

// pushBlobs uploads the image's config and layers to repo.
func (c *client) pushBlobs(repo string, img *image) {
	c.t.Helper()
	c.pushBlob(repo, img.config)
	for _, l := range img.layers {
		c.pushBlob(repo, l)
	}
}

// pushImage uploads a new image (blobs and manifest) to repo under ref
// (a tag, or "" to push by digest).
func (c *client) pushImage(repo, ref, seed string, edit ...func(*v1.Manifest)) *image {
	c.t.Helper()
	img := newImage(c.t, seed, edit...)
	c.pushBlobs(repo, img)
	if ref == "" {
		ref = img.digest.String()
	}
	got := c.pushManifest(repo, ref, v1.MediaTypeImageManifest, img.manifest)
	if got != img.digest {
		c.t.Fatalf("manifest pushed as %s, want %s", got, img.digest)
	}
	return img
}

// newIndex encodes an OCI index of the given manifests.
func newIndex(t testing.TB, children ...*image) []byte {
	t.Helper()
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	for _, c := range children {
		idx.Manifests = append(idx.Manifests, desc(v1.MediaTypeImageManifest, c.manifest))
	}
	return mustJSON(t, idx)
}

// catalog returns the whole catalog in one page.
func (c *client) catalog() []string {
	c.t.Helper()
	r := c.do("GET", "/v2/_catalog", nil)
	wantStatus(c.t, r, http.StatusOK)
	var body struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		c.t.Fatalf("catalog body %q: %v", r.body, err)
	}
	return body.Repositories
}

// clip shortens a body for a failure message.
func clip(b []byte) []byte {
	if len(b) > 300 {
		return append(b[:300:300], "..."...)
	}
	return b
}

// tags returns the tags of repo in one page.
func (c *client) tags(repo string) []string {
	c.t.Helper()
	r := c.do("GET", "/v2/"+repo+"/tags/list", nil)
	wantStatus(c.t, r, http.StatusOK)
	var body struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		c.t.Fatalf("tags body %q: %v", r.body, err)
	}
	if body.Name != repo {
		c.t.Errorf("tags list name %q, want %q", body.Name, repo)
	}
	return body.Tags
}

// digestOf returns the sha256 digest of b as a string.
func digestOf(b []byte) string { return digest.FromBytes(b).String() }
