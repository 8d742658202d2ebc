package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Test data in the shape the OCI conformance suite pushes (see its
// testdata.go): images with gzip or plain tar layers, artifacts with the empty
// config, referrers with a subject, descriptors with embedded data, foreign
// layers, custom fields, sha512 digests. Content is deterministic.

const (
	mtImageConfig  = v1.MediaTypeImageConfig
	mtLayerGzip    = v1.MediaTypeImageLayerGzip
	mtLayerTar     = v1.MediaTypeImageLayer
	mtExample      = "application/vnd.example.oci.conformance.v1"
	mtDockerConfig = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// content returns n deterministic bytes derived from seed.
func content(seed string, n int) []byte {
	return bytes.Repeat([]byte(seed), n/len(seed)+1)[:n]
}

// descOf describes b with media type mt, digested with alg.
func descOf(alg digest.Algorithm, mt string, b []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: mt, Digest: alg.FromBytes(b), Size: int64(len(b))}
}

// withData returns d with b embedded.
func withData(d v1.Descriptor, b []byte) v1.Descriptor {
	d.Data = b
	return d
}

// mustJSON marshals v or fails the test.
func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal: %v", err)
	}
	return b
}

// withExtraField adds an unknown top-level field to a JSON object, as the
// conformance suite's custom-fields data does.
func withExtraField(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatalf("unmarshal: %v", err)
	}
	m["org.example.custom"] = json.RawMessage(`{"nested":[1,2,3],"text":"x"}`)
	return mustJSON(tb, m)
}

// image builds an OCI image manifest with n layers of media type layerMT.
func image(alg digest.Algorithm, n int, layerMT string) v1.Manifest {
	cfg := content("config", 300)
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    descOf(alg, mtImageConfig, cfg),
	}
	for i := range n {
		m.Layers = append(m.Layers, descOf(alg, layerMT, content(fmt.Sprintf("layer%d", i), 1000+i)))
	}
	return m
}

// artifact builds an artifact manifest: the empty config, one layer of
// layerMT, an artifactType, and optionally a subject.
func artifact(subject *v1.Descriptor, artifactType, layerMT string) v1.Manifest {
	return v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       v1.DescriptorEmptyJSON,
		Layers:       []v1.Descriptor{descOf(digest.SHA256, layerMT, content("artifact", 64))},
		Subject:      subject,
		Annotations:  map[string]string{"org.example.key": "value"},
	}
}

// index builds an OCI index over the given manifests.
func index(children ...v1.Descriptor) v1.Index {
	return v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: append([]v1.Descriptor{}, children...),
	}
}

// platformDesc describes a manifest body for an index entry.
func platformDesc(body []byte, mt, arch string) v1.Descriptor {
	d := descOf(digest.SHA256, mt, body)
	d.Platform = &v1.Platform{OS: "linux", Architecture: arch}
	return d
}

// conformanceCase is one body the conformance suite would push.
type conformanceCase struct {
	name        string
	contentType string
	body        []byte
}

// conformanceBodies returns manifests shaped like every data set of the
// OCI conformance suite.
func conformanceBodies(tb testing.TB) []conformanceCase {
	tb.Helper()
	img := mustJSON(tb, image(digest.SHA256, 2, mtLayerGzip))
	imgArm := mustJSON(tb, image(digest.SHA256, 3, mtLayerGzip))
	imgDesc := platformDesc(img, v1.MediaTypeImageManifest, "amd64")
	idx := mustJSON(tb, index(imgDesc, platformDesc(imgArm, v1.MediaTypeImageManifest, "arm64")))

	large := image(digest.SHA256, 2, mtLayerGzip)
	large.Annotations = map[string]string{}
	for i := range 200 {
		large.Annotations[fmt.Sprintf("org.example.%03d", i)] = string(content("annotation", 500))
	}

	withSubject := artifact(&imgDesc, mtExample, mtExample)
	idxWithSubject := index(imgDesc)
	idxWithSubject.ArtifactType = mtExample
	idxWithSubject.Subject = &imgDesc

	dataImg := image(digest.SHA256, 0, mtLayerGzip)
	cfg := content("config", 300)
	dataImg.Config = withData(descOf(digest.SHA256, mtImageConfig, cfg), cfg)
	layer := content("layer-data", 200)
	dataImg.Layers = []v1.Descriptor{withData(descOf(digest.SHA256, mtLayerGzip, layer), layer)}

	foreign := image(digest.SHA256, 1, mtLayerGzip)
	for i, mt := range []string{MediaTypeLayerNonDistributableGzip, MediaTypeLayerNonDistributable} {
		d := descOf(digest.SHA256, mt, content(fmt.Sprintf("foreign%d", i), 256))
		d.Size = 123456
		d.URLs = []string{"https://store.example.com/blobs/sha256/" + d.Digest.Encoded()}
		foreign.Layers = append([]v1.Descriptor{d}, foreign.Layers...)
	}

	noLayers := image(digest.SHA256, 0, mtLayerGzip)
	absentLayers := bytes.Replace(mustJSON(tb, noLayers), []byte(`,"layers":null`), nil, 1)
	noLayers.Layers = []v1.Descriptor{}

	sparse := index(imgDesc, descOf(digest.SHA256, v1.MediaTypeImageManifest, content("missing", 1024)))
	img512 := mustJSON(tb, image(digest.SHA512, 2, mtLayerGzip))
	idx512 := index(descOf(digest.SHA512, v1.MediaTypeImageManifest, img512))

	oci, ociIdx := v1.MediaTypeImageManifest, v1.MediaTypeImageIndex
	return []conformanceCase{
		{"image", oci, img},
		{"image-uncompressed", oci, mustJSON(tb, image(digest.SHA256, 2, mtLayerTar))},
		{"large-manifest", oci, mustJSON(tb, large)},
		{"index", ociIdx, idx},
		{"index-of-index", ociIdx, mustJSON(tb, index(imgDesc, platformDesc(idx, ociIdx, "amd64")))},
		{"empty-index", ociIdx, mustJSON(tb, index())},
		{"artifact", oci, mustJSON(tb, artifact(nil, mtExample, mtExample))},
		{"artifact-without-layers", oci, mustJSON(tb, artifact(nil, mtExample, MediaTypeEmptyJSON))},
		{"artifact-octet-layer", oci, mustJSON(tb, artifact(&imgDesc, "application/vnd.example.oci.conformance.v2", "application/octet-stream"))},
		{"referrer", oci, mustJSON(tb, withSubject)},
		{"referrer-index", ociIdx, mustJSON(tb, idxWithSubject)},
		{"data-field", oci, mustJSON(tb, dataImg)},
		{"non-distributable", oci, mustJSON(tb, foreign)},
		{"custom-fields", oci, withExtraField(tb, img)},
		{"custom-fields-index", ociIdx, withExtraField(tb, idx)},
		{"no-layers", oci, mustJSON(tb, noLayers)},
		{"absent-layers", oci, absentLayers},
		{"sparse-index", ociIdx, mustJSON(tb, sparse)},
		{"sha512-image", oci, img512},
		{"sha512-index", ociIdx, mustJSON(tb, idx512)},
	}
}

// dockerManifest is a Docker schema 2 manifest with two layers.
func dockerManifest(tb testing.TB) []byte {
	tb.Helper()
	return mustJSON(tb, map[string]any{
		"schemaVersion": 2,
		"mediaType":     MediaTypeDockerManifest,
		"config":        descOf(digest.SHA256, mtDockerConfig, content("dconfig", 500)),
		"layers": []v1.Descriptor{
			descOf(digest.SHA256, mtDockerLayer, content("dlayer0", 900)),
			descOf(digest.SHA256, MediaTypeDockerForeignLayer, content("dforeign", 900)),
		},
	})
}

// dockerList is a Docker manifest list naming two Docker manifests.
func dockerList(tb testing.TB) []byte {
	tb.Helper()
	m := dockerManifest(tb)
	return mustJSON(tb, map[string]any{
		"schemaVersion": 2,
		"mediaType":     MediaTypeDockerManifestList,
		"manifests": []v1.Descriptor{
			platformDesc(m, MediaTypeDockerManifest, "amd64"),
			platformDesc(append(m, ' '), MediaTypeDockerManifest, "arm64"),
		},
	})
}

// schema1Body is a (truncated) signed Docker schema 1 manifest.
const schema1Body = `{
   "schemaVersion": 1,
   "name": "library/hello",
   "tag": "latest",
   "architecture": "amd64",
   "fsLayers": [{"blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],
   "history": [{"v1Compatibility": "{}"}],
   "signatures": [{"header": {"alg": "ES256"}, "signature": "c2ln", "protected": "cHJvdA"}]
}`
