package oci

import "strings"

// kind is the resource a /v2 path names.
type kind int

const (
	kindBase        kind = iota + 1 // /v2/
	kindCatalog                     // /v2/_catalog
	kindTags                        // /v2/<name>/tags/list
	kindManifest                    // /v2/<name>/manifests/<reference>
	kindBlob                        // /v2/<name>/blobs/<digest>
	kindUploadStart                 // /v2/<name>/blobs/uploads/
	kindUpload                      // /v2/<name>/blobs/uploads/<id>
	kindReferrers                   // /v2/<name>/referrers/<digest>
)

// label is the metrics route label of each kind.
var label = map[kind]string{
	kindBase:        "base",
	kindCatalog:     "catalog",
	kindTags:        "tags_list",
	kindManifest:    "manifest",
	kindBlob:        "blob",
	kindUploadStart: "blob_upload_start",
	kindUpload:      "blob_upload",
	kindReferrers:   "referrers",
}

// route is a parsed /v2 path.
type route struct {
	kind kind
	// name is the repository name ("" for base and catalog).
	name string
	// arg is the reference, digest or upload id that ends the path.
	arg string
}

// parsePath splits a /v2 path into a route. Repository names may contain
// slashes (and even components such as "blobs"), so the path is matched by
// its tail: the resource is the last structure that fits. The standard
// ServeMux cannot do this because a {name...} wildcard must come last.
// parsePath validates shape only; names and references are checked by the
// caller.
func parsePath(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: kindBase}, true
		}
		return route{}, false
	}
	switch rest {
	case "":
		return route{kind: kindBase}, true
	case "_catalog":
		return route{kind: kindCatalog}, true
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return named(kindTags, name, "")
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads/"); ok {
		return named(kindUploadStart, name, "")
	}
	if name, ok := strings.CutSuffix(rest, "/blobs/uploads"); ok {
		return named(kindUploadStart, name, "")
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return route{}, false
	}
	head, last := rest[:i], rest[i+1:]
	j := strings.LastIndexByte(head, '/')
	if j <= 0 {
		return route{}, false
	}
	name, verb := head[:j], head[j+1:]
	switch verb {
	case "manifests":
		return named(kindManifest, name, last)
	case "referrers":
		return named(kindReferrers, name, last)
	case "blobs":
		return named(kindBlob, name, last)
	case "uploads":
		if n, ok := strings.CutSuffix(name, "/blobs"); ok {
			return named(kindUpload, n, last)
		}
	}
	return route{}, false
}

func named(k kind, name, arg string) (route, bool) {
	if name == "" {
		return route{}, false
	}
	return route{kind: k, name: name, arg: arg}, true
}
