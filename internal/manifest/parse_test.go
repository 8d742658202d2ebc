package manifest

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseValid(t *testing.T) {
	img := image(digest.SHA256, 2, mtLayerGzip)
	imgBody := mustJSON(t, img)
	imgDesc := platformDesc(imgBody, v1.MediaTypeImageManifest, "amd64")
	wantImg := &Manifest{
		MediaType:    MediaTypeImageManifest,
		ArtifactType: mtImageConfig,
		Config:       &img.Config,
		Layers:       img.Layers,
	}
	noMT := bytes.Replace(imgBody, []byte(`"mediaType":"application/vnd.oci.image.manifest.v1+json",`), nil, 1)

	idx := index(imgDesc)
	idxBody := mustJSON(t, idx)
	idxNoMT := bytes.Replace(idxBody, []byte(`"mediaType":"application/vnd.oci.image.index.v1+json",`), nil, 1)
	wantIdx := &Manifest{MediaType: MediaTypeImageIndex, Manifests: []v1.Descriptor{imgDesc}}

	art := artifact(&imgDesc, mtExample, mtExample)
	wantArt := &Manifest{
		MediaType:    MediaTypeImageManifest,
		ArtifactType: mtExample,
		Subject:      &imgDesc,
		Config:       &art.Config,
		Layers:       art.Layers,
		Annotations:  art.Annotations,
	}
	idxArt := index(imgDesc)
	idxArt.ArtifactType, idxArt.Subject, idxArt.Annotations = mtExample, &imgDesc, map[string]string{"a": "b"}

	noArtType := artifact(nil, "", mtExample)

	var dockerM map[string]any
	if err := json.Unmarshal(dockerManifest(t), &dockerM); err != nil {
		t.Fatal(err)
	}
	dockerM["subject"] = map[string]any{"mediaType": "bogus", "digest": "nope", "size": -1}
	dockerM["artifactType"] = "not a media type"
	dockerWithOCIFields := mustJSON(t, dockerM)
	dockerM["subject"], dockerM["artifactType"] = 5, []int{7}
	dockerWithOddFields := mustJSON(t, dockerM)
	wantDocker := &Manifest{
		MediaType: MediaTypeDockerManifest,
		Config:    ptr(descOf(digest.SHA256, mtDockerConfig, content("dconfig", 500))),
		Layers: []v1.Descriptor{
			descOf(digest.SHA256, mtDockerLayer, content("dlayer0", 900)),
			descOf(digest.SHA256, MediaTypeDockerForeignLayer, content("dforeign", 900)),
		},
	}

	tests := []struct {
		name string
		ct   string
		body []byte
		want *Manifest
	}{
		{"oci image", MediaTypeImageManifest, imgBody, wantImg},
		{"content-type parameters ignored", MediaTypeImageManifest + "; charset=utf-8", imgBody, wantImg},
		{"content-type case ignored", "Application/VND.OCI.Image.Manifest.v1+JSON", imgBody, wantImg},
		{"generic content-type, body mediaType decides", "application/json", imgBody, wantImg},
		{"unknown content-type, body mediaType decides", "application/x-www-form-urlencoded", imgBody, wantImg},
		{"no mediaType, content-type decides", MediaTypeImageManifest, noMT, wantImg},
		{"no mediaType, empty content-type, config detected", "", noMT, wantImg},
		{"no mediaType, octet-stream, manifests detected", "application/octet-stream", idxNoMT, wantIdx},
		{"leading and trailing whitespace", "", append(append([]byte(" \r\n\t"), imgBody...), "\n "...), wantImg},
		{"oci index", MediaTypeImageIndex, idxBody, wantIdx},
		{"artifact with subject", MediaTypeImageManifest, mustJSON(t, art), wantArt},
		{"index artifactType and subject", MediaTypeImageIndex, mustJSON(t, idxArt), &Manifest{
			MediaType: MediaTypeImageIndex, ArtifactType: mtExample, Subject: &imgDesc,
			Manifests: []v1.Descriptor{imgDesc}, Annotations: map[string]string{"a": "b"},
		}},
		{"empty config without artifactType falls back to config type", MediaTypeImageManifest, mustJSON(t, noArtType), &Manifest{
			MediaType: MediaTypeImageManifest, ArtifactType: MediaTypeEmptyJSON, Config: &noArtType.Config,
			Layers: noArtType.Layers, Annotations: noArtType.Annotations,
		}},
		{"docker manifest ignores subject and artifactType", MediaTypeDockerManifest, dockerWithOCIFields, wantDocker},
		{"docker manifest ignores their JSON types too", MediaTypeDockerManifest, dockerWithOddFields, wantDocker},
		{"null subject is absent", MediaTypeImageManifest,
			bytes.Replace(imgBody, []byte(`"schemaVersion":2,`), []byte(`"schemaVersion":2,"subject":null,"artifactType":null,`), 1), wantImg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.ct, tt.body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestParseConformanceData checks that every manifest shape the OCI
// conformance suite pushes is accepted, and that Parse agrees with a plain
// decode into the image-spec types.
func TestParseConformanceData(t *testing.T) {
	cases := append(conformanceBodies(t),
		conformanceCase{"docker-manifest", MediaTypeDockerManifest, dockerManifest(t)},
		conformanceCase{"docker-list", MediaTypeDockerManifestList, dockerList(t)},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.contentType, c.body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.MediaType != c.contentType {
				t.Errorf("MediaType = %q, want %q", got.MediaType, c.contentType)
			}
			checkAgainstSpecTypes(t, c.body, got)
		})
	}
}

// checkAgainstSpecTypes decodes body into the image-spec types and compares
// the descriptors with m's.
func checkAgainstSpecTypes(t *testing.T, body []byte, m *Manifest) {
	t.Helper()
	opts := cmpopts.EquateEmpty()
	if m.IsIndex() {
		var idx v1.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			t.Fatalf("decode as v1.Index: %v", err)
		}
		if diff := cmp.Diff(idx.Manifests, m.Manifests, opts); diff != "" {
			t.Errorf("manifests differ from v1.Index (-spec +got):\n%s", diff)
		}
		if m.Config != nil || len(m.Layers) != 0 {
			t.Errorf("index has Config %v, Layers %v", m.Config, m.Layers)
		}
		return
	}
	var man v1.Manifest
	if err := json.Unmarshal(body, &man); err != nil {
		t.Fatalf("decode as v1.Manifest: %v", err)
	}
	if diff := cmp.Diff(&man.Config, m.Config, opts); diff != "" {
		t.Errorf("config differs from v1.Manifest (-spec +got):\n%s", diff)
	}
	if diff := cmp.Diff(man.Layers, m.Layers, opts); diff != "" {
		t.Errorf("layers differ from v1.Manifest (-spec +got):\n%s", diff)
	}
	if !isDockerType(m.MediaType) {
		if diff := cmp.Diff(man.Subject, m.Subject, opts); diff != "" {
			t.Errorf("subject differs from v1.Manifest (-spec +got):\n%s", diff)
		}
	}
}
