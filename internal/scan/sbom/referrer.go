package sbom

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// AnnotationGenerator marks the referrers Berth generates, with the value
// Generator, so they can be told from SBOMs users attach themselves (and
// removed with their subject).
const (
	AnnotationGenerator = "io.berth.generator"
	Generator           = "berth-scanner"
)

// Blob is one blob of a referrer artifact, to push before its manifest.
type Blob struct {
	Descriptor v1.Descriptor
	Content    []byte
}

// Artifact is an SBOM packaged as an OCI 1.1 referrer of an image.
type Artifact struct {
	// Manifest is the image manifest bytes, to push by digest.
	Manifest []byte
	// Descriptor describes Manifest (media type, digest, size, and the
	// artifactType the referrers API lists).
	Descriptor v1.Descriptor
	// Blobs are the empty config ("{}") and the SBOM, in push order.
	Blobs []Blob
}

// Referrer packages sbom (of media type MediaTypeCycloneDX or
// MediaTypeSPDX) as a referrer of subject, following the OCI 1.1 guidance
// for artifacts: artifactType is the SBOM's media type, the config is the
// empty descriptor, the SBOM is the single layer, and subject points at the
// image. created becomes the org.opencontainers.image.created annotation.
// Other media types are errdefs.ErrInvalid.
func Referrer(mediaType string, sbom []byte, subject v1.Descriptor, created time.Time) (*Artifact, error) {
	if mediaType != MediaTypeCycloneDX && mediaType != MediaTypeSPDX {
		return nil, errdefs.Invalid("sbom referrer: media type %q is not an SBOM type", mediaType)
	}
	if err := subject.Digest.Validate(); err != nil {
		return nil, errdefs.Invalid("sbom referrer: subject digest %q: %v", subject.Digest, err)
	}
	layer := v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(sbom), Size: int64(len(sbom))}
	// Keep only what identifies the subject; platform and annotations of an
	// index entry do not belong in a subject descriptor.
	subj := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := v1.Manifest{
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: mediaType,
		Config:       v1.DescriptorEmptyJSON,
		Layers:       []v1.Descriptor{layer},
		Subject:      &subj,
		Annotations: map[string]string{
			v1.AnnotationCreated: created.UTC().Truncate(time.Second).Format(time.RFC3339),
			AnnotationGenerator:  Generator,
		},
	}
	m.SchemaVersion = 2
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("sbom referrer: encode manifest: %w", err)
	}
	return &Artifact{
		Manifest: body,
		Descriptor: v1.Descriptor{MediaType: v1.MediaTypeImageManifest, ArtifactType: mediaType,
			Digest: digest.FromBytes(body), Size: int64(len(body))},
		Blobs: []Blob{
			{Descriptor: v1.DescriptorEmptyJSON, Content: []byte("{}")},
			{Descriptor: layer, Content: sbom},
		},
	}, nil
}
