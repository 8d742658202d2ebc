package manifest

import (
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types Berth stores.
const (
	// MediaTypeImageManifest is the OCI image manifest.
	MediaTypeImageManifest = v1.MediaTypeImageManifest
	// MediaTypeImageIndex is the OCI image index.
	MediaTypeImageIndex = v1.MediaTypeImageIndex
	// MediaTypeDockerManifest is the Docker image manifest, schema 2.
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	// MediaTypeDockerManifestList is the Docker manifest list, schema 2.
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// Docker schema 1 media types. Berth refuses these manifests with
// errdefs.ErrUnsupported.
const (
	// MediaTypeDockerSchema1 is the unsigned Docker schema 1 manifest.
	MediaTypeDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
	// MediaTypeDockerSchema1Signed is the signed (JWS) Docker schema 1 manifest.
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// MediaTypeEmptyJSON is the OCI empty descriptor's media type: the content is
// the two bytes "{}". Artifacts use it as a placeholder config or layer.
const MediaTypeEmptyJSON = v1.MediaTypeEmptyJSON

// Non-distributable layer media types. Layers of these types are fetched from
// elsewhere (often from the descriptor's urls) and are never pushed, so a
// manifest naming them is accepted without the blob being present.
const (
	// MediaTypeLayerNonDistributable is an OCI non-distributable tar layer.
	MediaTypeLayerNonDistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	// MediaTypeLayerNonDistributableGzip is the gzip-compressed form.
	MediaTypeLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	// MediaTypeLayerNonDistributableZstd is the zstd-compressed form.
	MediaTypeLayerNonDistributableZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
	// MediaTypeDockerForeignLayer is Docker's foreign (non-distributable) layer.
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// storedTypes lists the manifest media types Berth stores, in the order error
// messages name them.
var storedTypes = [...]string{
	MediaTypeImageManifest,
	MediaTypeImageIndex,
	MediaTypeDockerManifest,
	MediaTypeDockerManifestList,
}

// acceptedTypesText is storedTypes joined for error messages.
var acceptedTypesText = strings.Join(storedTypes[:], ", ")

// IsManifestMediaType reports whether mt is one of the manifest media types
// Berth stores: OCI image manifest, OCI index, Docker schema 2 manifest or
// Docker manifest list. mt must be a bare media type (no parameters) and is
// compared exactly; Docker schema 1 types report false.
func IsManifestMediaType(mt string) bool {
	for _, t := range storedTypes {
		if mt == t {
			return true
		}
	}
	return false
}

// IsNonDistributable reports whether a layer of media type mt is
// non-distributable (OCI nondistributable layers, Docker foreign layers):
// such a layer need not be present in the registry.
func IsNonDistributable(mt string) bool {
	switch mt {
	case MediaTypeLayerNonDistributable, MediaTypeLayerNonDistributableGzip,
		MediaTypeLayerNonDistributableZstd, MediaTypeDockerForeignLayer:
		return true
	}
	return false
}

// isIndexType reports whether mt is an index-like manifest type.
func isIndexType(mt string) bool {
	return mt == MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// isDockerType reports whether mt is one of the Docker schema 2 types.
func isDockerType(mt string) bool {
	return mt == MediaTypeDockerManifest || mt == MediaTypeDockerManifestList
}

// isSchema1 reports whether mt (case-insensitively) is a Docker schema 1 type.
func isSchema1(mt string) bool {
	return strings.EqualFold(mt, MediaTypeDockerSchema1) || strings.EqualFold(mt, MediaTypeDockerSchema1Signed)
}

// contentTypeBase returns the media type of a Content-Type header value
// without parameters and surrounding spaces, e.g. "a/b; charset=utf-8" → "a/b".
// It does not allocate.
func contentTypeBase(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}

// knownManifestType returns the canonical stored media type equal to mt
// ignoring case, or "" if mt is not one.
func knownManifestType(mt string) string {
	for _, t := range storedTypes {
		if strings.EqualFold(mt, t) {
			return t
		}
	}
	return ""
}

// isGenericContentType reports whether a Content-Type base says nothing about
// the manifest type: empty, application/json or application/octet-stream.
func isGenericContentType(base string) bool {
	return base == "" || strings.EqualFold(base, "application/json") ||
		strings.EqualFold(base, "application/octet-stream")
}

// validMediaType reports whether mt is a well-formed RFC 6838 media type
// "type/subtype" without parameters, using the character set and lengths
// of the image-spec descriptor schema:
// ^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$
func validMediaType(mt string) bool {
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && validRestrictedName(typ) && validRestrictedName(sub)
}

// validRestrictedName checks one RFC 6838 restricted-name (1 to 127 chars).
func validRestrictedName(s string) bool {
	if len(s) == 0 || len(s) > 127 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			continue
		}
		switch c {
		case '!', '#', '$', '&', '^', '_', '.', '+', '-':
			continue
		}
		return false
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
