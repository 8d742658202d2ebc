package bench

import (
	"encoding/json"
	"fmt"
)

// Descriptor points at content by media type, digest and size, as in the
// OCI image spec.
type Descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type imageManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// ImageConfig returns a small, valid OCI image configuration naming the
// given layers as its root filesystem. The layers the tool generates are
// not real tar files, which no registry checks.
func ImageConfig(layers []Descriptor) []byte {
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.Digest
	}
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(fmt.Sprintf("bench: marshalling an image config: %v", err))
	}
	return b
}

// ImageManifest returns the bytes of an OCI image manifest for config and
// layers. A non-empty marker is stored as an annotation, which makes
// otherwise identical manifests distinct (one digest per tag).
func ImageManifest(config Descriptor, layers []Descriptor, marker string) []byte {
	m := imageManifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        config,
		Layers:        layers,
	}
	if marker != "" {
		m.Annotations = map[string]string{"org.berth.bench.marker": marker}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("bench: marshalling a manifest: %v", err))
	}
	return b
}
