package oci_test

import (
	"net/http"
	"strings"
	"testing"
)

const someDigest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestBase(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v2/"},
		{"HEAD", "/v2/"},
		{"GET", "/v2"},
		{"HEAD", "/v2"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := c.with(t).do(tt.method, tt.path, nil)
			wantStatus(t, r, http.StatusOK)
			wantHeader(t, r, "Docker-Distribution-API-Version", "registry/2.0")
			wantHeader(t, r, "Content-Type", "application/json")
			wantHeader(t, r, "Content-Length", "2")
			want := "{}"
			if tt.method == "HEAD" {
				want = ""
			}
			if string(r.body) != want {
				t.Errorf("body %q, want %q", r.body, want)
			}
		})
	}
}

// TestUnknownEndpoint checks that paths the API does not define are 404
// with an OCI envelope, and that the API version header is still sent.
func TestUnknownEndpoint(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	for _, path := range []string{
		"/v2/a",
		"/v2/a/",
		"/v2/a/manifests",
		"/v2/a/manifests/latest/",
		"/v2/a/tags/list/",
		"/v2/a/tags",
		"/v2/_catalog/",
		"/v2/a/blobs",
		"/v2/a/blobs/" + someDigest + "/",
		"/v2/a/blobs/uploads/id/",
		"/v2/a/referrers/",
		"/v2/a/unknown/x",
		"/v2/manifests/latest",
		"/v2/blobs/uploads/",
	} {
		t.Run(path, func(t *testing.T) {
			for _, m := range []string{"GET", "PUT", "DELETE"} {
				r := c.with(t).do(m, path, nil)
				wantError(t, r, http.StatusNotFound, "NAME_UNKNOWN")
				wantHeader(t, r, "Docker-Distribution-API-Version", "registry/2.0")
			}
		})
	}
	t.Run("outside /v2", func(t *testing.T) {
		r := c.with(t).do("GET", "/v3/a/manifests/latest", nil)
		wantStatus(t, r, http.StatusNotFound)
	})
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	tests := []struct {
		path    string
		methods []string
		allow   string
	}{
		{"/v2/", []string{"POST", "PUT", "DELETE", "PATCH"}, "GET, HEAD"},
		{"/v2/_catalog", []string{"POST", "PUT", "DELETE", "HEAD"}, "GET"},
		{"/v2/a/tags/list", []string{"POST", "PUT", "DELETE", "PATCH"}, "GET"},
		{"/v2/a/manifests/latest", []string{"POST", "PATCH", "OPTIONS"}, "GET, HEAD, PUT, DELETE"},
		{"/v2/a/blobs/" + someDigest, []string{"POST", "PUT", "PATCH"}, "GET, HEAD, DELETE"},
		{"/v2/a/blobs/uploads/", []string{"GET", "HEAD", "PUT", "PATCH", "DELETE"}, "POST"},
		{"/v2/a/blobs/uploads/some-id", []string{"POST", "HEAD"}, "GET, PATCH, PUT, DELETE"},
		{"/v2/a/referrers/" + someDigest, []string{"POST", "PUT", "DELETE", "HEAD"}, "GET"},
	}
	for _, tt := range tests {
		for _, m := range tt.methods {
			t.Run(m+" "+tt.path, func(t *testing.T) {
				r := c.with(t).do(m, tt.path, nil)
				wantError(t, r, http.StatusMethodNotAllowed, "UNSUPPORTED")
				wantHeader(t, r, "Allow", tt.allow)
			})
		}
	}
}

// TestInvalidName checks that every route refuses an invalid repository
// name with 400 NAME_INVALID before doing anything else.
func TestInvalidName(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	names := []struct {
		label, name string
	}{
		{"uppercase", "Library/ubuntu"},
		{"double dot", "a..b"},
		{"leading separator", "-a"},
		{"trailing separator", "a_"},
		{"too long", strings.Repeat("abcdefgh/", 28) + "abcd"}, // 256 bytes
		{"bad character", "a$b"},
	}
	routes := []struct{ method, tail string }{
		{"GET", "/tags/list"},
		{"GET", "/manifests/latest"},
		{"HEAD", "/manifests/latest"},
		{"PUT", "/manifests/latest"},
		{"DELETE", "/manifests/latest"},
		{"GET", "/blobs/" + someDigest},
		{"HEAD", "/blobs/" + someDigest},
		{"DELETE", "/blobs/" + someDigest},
		{"POST", "/blobs/uploads/"},
		{"POST", "/blobs/uploads/?digest=" + someDigest},
		{"POST", "/blobs/uploads/?mount=" + someDigest + "&from=a"},
		{"GET", "/blobs/uploads/some-id"},
		{"PATCH", "/blobs/uploads/some-id"},
		{"PUT", "/blobs/uploads/some-id?digest=" + someDigest},
		{"DELETE", "/blobs/uploads/some-id"},
		{"GET", "/referrers/" + someDigest},
	}
	if n := len(names[4].name); n != 256 {
		t.Fatalf("long name is %d bytes, want 256", n)
	}
	for _, n := range names {
		for _, rt := range routes {
			t.Run(n.label+"/"+rt.method+" "+rt.tail, func(t *testing.T) {
				r := c.with(t).do(rt.method, "/v2/"+n.name+rt.tail, []byte("{}"))
				wantError(t, r, http.StatusBadRequest, "NAME_INVALID")
			})
		}
	}
	// Nothing may have been created by the refused requests.
	if got := c.catalog(); len(got) != 0 {
		t.Errorf("catalog after refused requests = %q, want none", got)
	}
}

// TestNameNotCleaned checks that a name with an empty component or a dot
// segment is refused as invalid, not cleaned into another repository's
// name (a redirect would send a push to a repository the client did not
// name, and turns a PUT into a GET in most clients).
func TestNameNotCleaned(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	for _, path := range []string{
		"/v2//a/manifests/latest",
		"/v2/a//b/manifests/latest",
		"/v2/a/../b/manifests/latest",
		"/v2/./a/tags/list",
	} {
		t.Run(path, func(t *testing.T) {
			for _, m := range []string{"GET", "PUT"} {
				r := c.with(t).do(m, path, []byte("{}"))
				wantError(t, r, http.StatusBadRequest, "NAME_INVALID")
			}
		})
	}
}
