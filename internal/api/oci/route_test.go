package oci

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testDigest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want route
		ok   bool
	}{
		// Base and catalog.
		{"/v2/", route{kind: kindBase}, true},
		{"/v2", route{kind: kindBase}, true},
		{"/v2/_catalog", route{kind: kindCatalog}, true},
		{"/v2/_catalog/", route{}, false},

		// Each resource with a one-component name.
		{"/v2/a/tags/list", route{kindTags, "a", ""}, true},
		{"/v2/a/manifests/latest", route{kindManifest, "a", "latest"}, true},
		{"/v2/a/manifests/" + testDigest, route{kindManifest, "a", testDigest}, true},
		{"/v2/a/blobs/" + testDigest, route{kindBlob, "a", testDigest}, true},
		{"/v2/a/blobs/uploads/", route{kindUploadStart, "a", ""}, true},
		{"/v2/a/blobs/uploads", route{kindUploadStart, "a", ""}, true},
		{"/v2/a/blobs/uploads/1234-abcd", route{kindUpload, "a", "1234-abcd"}, true},
		{"/v2/a/referrers/" + testDigest, route{kindReferrers, "a", testDigest}, true},

		// Multi-component names.
		{"/v2/library/ubuntu/manifests/22.04", route{kindManifest, "library/ubuntu", "22.04"}, true},
		{"/v2/a/b/c/d/tags/list", route{kindTags, "a/b/c/d", ""}, true},
		{"/v2/a/b/blobs/uploads/id", route{kindUpload, "a/b", "id"}, true},

		// Names whose components are resource words: the tail decides.
		{"/v2/blobs/blobs/" + testDigest, route{kindBlob, "blobs", testDigest}, true},
		{"/v2/a/blobs/blobs/uploads/", route{kindUploadStart, "a/blobs", ""}, true},
		{"/v2/a/blobs/blobs/uploads/id", route{kindUpload, "a/blobs", "id"}, true},
		{"/v2/a/blobs/uploads/blobs/" + testDigest, route{kindBlob, "a/blobs/uploads", testDigest}, true},
		{"/v2/a/blobs/uploads/blobs/uploads/id", route{kindUpload, "a/blobs/uploads", "id"}, true},
		{"/v2/uploads/blobs/uploads/id", route{kindUpload, "uploads", "id"}, true},
		{"/v2/manifests/manifests/latest", route{kindManifest, "manifests", "latest"}, true},
		{"/v2/a/manifests/b/manifests/c", route{kindManifest, "a/manifests/b", "c"}, true},
		{"/v2/tags/tags/list", route{kindTags, "tags", ""}, true},
		{"/v2/tags/list/tags/list", route{kindTags, "tags/list", ""}, true},
		{"/v2/a/tags/list/manifests/list", route{kindManifest, "a/tags/list", "list"}, true},
		{"/v2/referrers/referrers/" + testDigest, route{kindReferrers, "referrers", testDigest}, true},
		{"/v2/_catalog/tags/list", route{kindTags, "_catalog", ""}, true},

		// Trailing slashes: only the upload start takes one.
		{"/v2/a/manifests/latest/", route{}, false},
		{"/v2/a/tags/list/", route{}, false},
		{"/v2/a/blobs/" + testDigest + "/", route{}, false},
		{"/v2/a/blobs/uploads/id/", route{}, false},
		{"/v2/a/referrers/" + testDigest + "/", route{}, false},

		// Junk.
		{"", route{}, false},
		{"/", route{}, false},
		{"/v1/", route{}, false},
		{"/v2x", route{}, false},
		{"/v3/a/manifests/latest", route{}, false},
		{"/v2/a", route{}, false},
		{"/v2/a/", route{}, false},
		{"/v2/a/manifests", route{}, false},
		{"/v2/a/manifests/", route{}, false},
		{"/v2/a/blobs", route{}, false},
		{"/v2/a/tags", route{}, false},
		{"/v2/a/tags/all", route{}, false},
		{"/v2/a/unknown/x", route{}, false},
		{"/v2/manifests/latest", route{}, false},
		{"/v2//manifests/latest", route{}, false},
		{"/v2/tags/list", route{}, false},
		{"/v2//tags/list", route{}, false},
		{"/v2/blobs/uploads/", route{}, false},
		{"/v2/blobs/uploads/id", route{}, false},
		{"/v2//blobs/uploads/", route{}, false},
		{"/v2/uploads/id", route{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := parsePath(tt.path)
			if ok != tt.ok {
				t.Fatalf("parsePath(%q) ok = %v, want %v (route %+v)", tt.path, ok, tt.ok, got)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(route{})); diff != "" {
				t.Errorf("parsePath(%q) (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

// rebuild is the canonical path of a route.
func rebuild(rt route) string {
	switch rt.kind {
	case kindBase:
		return "/v2/"
	case kindCatalog:
		return "/v2/_catalog"
	case kindTags:
		return "/v2/" + rt.name + "/tags/list"
	case kindManifest:
		return "/v2/" + rt.name + "/manifests/" + rt.arg
	case kindBlob:
		return "/v2/" + rt.name + "/blobs/" + rt.arg
	case kindUploadStart:
		return "/v2/" + rt.name + "/blobs/uploads/"
	case kindUpload:
		return "/v2/" + rt.name + "/blobs/uploads/" + rt.arg
	case kindReferrers:
		return "/v2/" + rt.name + "/referrers/" + rt.arg
	}
	return ""
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/v2/", "/v2", "/v2/_catalog", "/v2/a/tags/list", "/v2/a/b/manifests/latest",
		"/v2/a/blobs/" + testDigest, "/v2/a/blobs/uploads/", "/v2/a/blobs/uploads", "/v2/a/blobs/uploads/x",
		"/v2/a/referrers/" + testDigest, "/v2/blobs/blobs/uploads/blobs/uploads/x", "/v2//", "/v2/a//b/tags/list",
		"/v2/a/manifests/", "/v2/../x", "/v2/a/blobs/uploads//",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, ok := parsePath(path)
		if !ok {
			if rt != (route{}) {
				t.Fatalf("parsePath(%q) refused the path but returned %+v", path, rt)
			}
			return
		}
		if label[rt.kind] == "" {
			t.Fatalf("parsePath(%q) = unknown kind %d", path, rt.kind)
		}
		canonical := rebuild(rt)
		aliases := map[string]bool{canonical: true}
		switch rt.kind {
		case kindBase:
			aliases["/v2"] = true
		case kindUploadStart:
			aliases[strings.TrimSuffix(canonical, "/")] = true
		}
		if !aliases[path] {
			t.Fatalf("parsePath(%q) = %+v, which rebuilds to %q", path, rt, canonical)
		}
		named := rt.kind != kindBase && rt.kind != kindCatalog
		if named == (rt.name == "") {
			t.Fatalf("parsePath(%q) = %+v: name presence does not match the kind", path, rt)
		}
		if strings.Contains(rt.arg, "/") {
			t.Fatalf("parsePath(%q) = %+v: the argument holds a slash", path, rt)
		}
		again, ok := parsePath(canonical)
		if !ok || again != rt {
			t.Fatalf("parsePath(%q) = %+v, %v; want %+v as parsed from %q", canonical, again, ok, rt, path)
		}
	})
}

// TestMethodTable checks that the Allow header of each resource lists
// exactly the methods the dispatcher serves.
func TestMethodTable(t *testing.T) {
	h := New(nil, Options{})
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch, http.MethodPut,
		http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect, "PROPFIND"}
	for k, name := range label {
		t.Run(name, func(t *testing.T) {
			var served []string
			for _, m := range methods {
				if h.method(k, m) != nil {
					served = append(served, m)
				}
			}
			if diff := cmp.Diff(allowed[k], strings.Join(served, ", ")); diff != "" {
				t.Errorf("Allow header of %s does not match the methods served (-allow +served):\n%s", name, diff)
			}
		})
	}
}
