package manifest

import (
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest is a parsed, validated manifest: what Berth needs to store it,
// check its references and serve referrers. Every descriptor in it has a
// valid sha256 or sha512 digest, a well-formed media type and a non-negative
// size; embedded data, when present, is decoded and matches both.
type Manifest struct {
	// MediaType is the effective media type, one of the four stored types
	// (see IsManifestMediaType).
	MediaType string
	// ArtifactType is the artifactType the referrers API reports: the
	// manifest's artifactType field, else the config media type for OCI image
	// manifests, else "". Always "" for Docker types.
	ArtifactType string
	// Subject is the manifest's subject descriptor (OCI types only), or nil.
	Subject *v1.Descriptor
	// Config is the config descriptor of an image manifest; nil for indexes.
	Config *v1.Descriptor
	// Layers are an image manifest's layers in order (nil if none or index).
	Layers []v1.Descriptor
	// Manifests are the entries of an index or manifest list, in order (nil
	// for image manifests).
	Manifests []v1.Descriptor
	// Annotations are the manifest's top-level annotations, or nil.
	Annotations map[string]string
}

// IsIndex reports whether m is an OCI index or a Docker manifest list.
func (m *Manifest) IsIndex() bool { return isIndexType(m.MediaType) }

// RequiredBlobs returns the blobs that must exist in the repository before m
// may be stored: the config and every layer, except non-distributable layers
// (see IsNonDistributable). Each digest appears once, at its first position
// (config first, then layers in order). Indexes require no blobs. The slice is
// new on each call.
func (m *Manifest) RequiredBlobs() []v1.Descriptor {
	if m.Config == nil && len(m.Layers) == 0 {
		return nil
	}
	out := make([]v1.Descriptor, 0, 1+len(m.Layers))
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	for _, l := range m.Layers {
		if !IsNonDistributable(l.MediaType) {
			out = append(out, l)
		}
	}
	return dedupe(out)
}

// Children returns the manifests an index names, which must exist in the
// repository before the index may be stored. Each digest appears once, at
// its first position. Image manifests have no children. The slice is new on
// each call.
func (m *Manifest) Children() []v1.Descriptor {
	if len(m.Manifests) == 0 {
		return nil
	}
	return dedupe(append([]v1.Descriptor(nil), m.Manifests...))
}

// dedupe removes, in place, descriptors whose digest appeared earlier.
func dedupe(ds []v1.Descriptor) []v1.Descriptor {
	if len(ds) < 2 {
		return ds
	}
	seen := make(map[digest.Digest]struct{}, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if _, dup := seen[d.Digest]; dup {
			continue
		}
		seen[d.Digest] = struct{}{}
		out = append(out, d)
	}
	return out
}
