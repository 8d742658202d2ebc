package manifest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/berth-registry/berth/internal/errdefs"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// wireManifest is the union of the fields of every manifest type, decoded in
// one pass. Pointers tell "absent" (or null) from "empty". The OCI-only
// fields stay raw until the type is known, so that a Docker manifest carrying
// odd values there is not refused for fields its format does not define.
type wireManifest struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  json.RawMessage   `json:"artifactType"`
	Config        *wireDescriptor   `json:"config"`
	Layers        *[]wireDescriptor `json:"layers"`
	Manifests     *[]wireDescriptor `json:"manifests"`
	Subject       json.RawMessage   `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// Parse decodes and validates a manifest pushed with the given Content-Type
// header value (parameters such as "; charset=utf-8" are ignored) and body.
// It reads body without copying or retaining it.
//
// The effective media type is the body's mediaType field when present (it
// must then equal the Content-Type if that names a manifest type); else the
// Content-Type; else, when the Content-Type is empty, application/json or
// application/octet-stream, the structure decides (manifests → OCI index;
// config or layers → OCI image manifest).
//
// Errors are errdefs.ErrInvalid with a message naming the field at fault, or
// errdefs.ErrUnsupported for a Docker schema 1 manifest.
func Parse(contentType string, body []byte) (*Manifest, error) {
	ct := contentTypeBase(contentType)
	if isSchema1(ct) {
		return nil, schema1Error()
	}
	w, err := decode(body)
	if err != nil {
		return nil, err
	}
	switch {
	case w.SchemaVersion == nil:
		return nil, errdefs.Invalid("manifest invalid: schemaVersion is missing; it must be 2")
	case *w.SchemaVersion == 1:
		return nil, schema1Error()
	case *w.SchemaVersion != 2:
		return nil, errdefs.Invalid("manifest invalid: schemaVersion is %d; it must be 2", *w.SchemaVersion)
	}
	mt, err := resolveMediaType(ct, w)
	if err != nil {
		return nil, err
	}
	if isIndexType(mt) {
		return buildIndex(mt, w)
	}
	return buildImage(mt, w)
}

// schema1Error is the refusal of a Docker schema 1 manifest.
func schema1Error() error {
	// crane is not suggested: `crane copy` pushes a schema 1 manifest as is.
	return errdefs.Unsupported("manifest unsupported: Docker schema 1 manifests are not supported; " +
		"re-push the image with a current client (docker, podman, buildah), or convert it to schema 2 with " +
		"`skopeo copy --format v2s2 <source> <destination>`")
}

// decode checks that body is one UTF-8 JSON object and decodes it.
func decode(body []byte) (*wireManifest, error) {
	if !utf8.Valid(body) {
		return nil, errdefs.Invalid("manifest invalid: body is not valid UTF-8")
	}
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n') {
		i++
	}
	if i == len(body) {
		return nil, errdefs.Invalid("manifest invalid: body is empty")
	}
	if body[i] != '{' {
		return nil, errdefs.Invalid("manifest invalid: body must be a JSON object")
	}
	w := new(wireManifest)
	if err := json.Unmarshal(body, w); err != nil {
		return nil, jsonError("", err)
	}
	return w, nil
}

// jsonError turns an encoding/json error into an Invalid error a user can
// act on. prefix is the path of the value that was decoded ("" for the body).
func jsonError(prefix string, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return errdefs.Invalid("manifest invalid: body is not valid JSON: %v (at byte %d)", syn, syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := jsonPath(typ.Field)
		switch {
		case prefix == "":
		case field == "":
			field = prefix
		default:
			field = prefix + "." + field
		}
		return errdefs.Invalid("manifest invalid: field %q must be %s, got %s",
			field, describeType(typ.Type), typ.Value)
	}
	return errdefs.Invalid("manifest invalid: %v", err)
}

// jsonPath turns encoding/json's field path into the JSON key path: the
// embedded v1.Descriptor in wireDescriptor shows up as a "Descriptor" segment,
// which users never wrote.
func jsonPath(field string) string {
	if !strings.Contains(field, "Descriptor") {
		return field
	}
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "Descriptor" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// describeType names the JSON shape a Go type expects.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer that fits in " + t.Kind().String()
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// resolveMediaType applies the media type rules documented on Parse.
func resolveMediaType(ct string, w *wireManifest) (string, error) {
	known := knownManifestType(ct)
	if bm := w.MediaType; bm != "" {
		switch {
		case isSchema1(bm):
			return "", schema1Error()
		case !IsManifestMediaType(bm):
			return "", errdefs.Invalid("manifest invalid: mediaType %q is not a manifest type Berth accepts; accepted types are %s",
				bm, acceptedTypesText)
		case known != "" && known != bm:
			return "", errdefs.Invalid("manifest invalid: Content-Type is %q but the manifest's mediaType is %q; they must match",
				known, bm)
		}
		return bm, nil
	}
	if known != "" {
		return known, nil
	}
	if !isGenericContentType(ct) {
		return "", errdefs.Invalid("manifest invalid: Content-Type %q is not a manifest type Berth accepts; accepted types are %s",
			ct, acceptedTypesText)
	}
	isIndex := w.Manifests != nil
	isImage := w.Config != nil || w.Layers != nil
	switch {
	case isIndex && isImage:
		return "", errdefs.Invalid("manifest invalid: the body has both manifests and config/layers but no mediaType; " +
			"set mediaType (and Content-Type) to say which it is")
	case isIndex:
		return MediaTypeImageIndex, nil
	case isImage:
		return MediaTypeImageManifest, nil
	}
	return "", errdefs.Invalid("manifest invalid: cannot tell the manifest type: there is no mediaType field, " +
		"the Content-Type is not a manifest type, and the body has neither config/layers nor manifests")
}

// buildImage validates an image manifest (OCI or Docker schema 2).
func buildImage(mt string, w *wireManifest) (*Manifest, error) {
	if w.Config == nil {
		return nil, errdefs.Invalid("manifest invalid: config is missing; an image manifest needs a config descriptor")
	}
	cfg, err := checkDescriptor(fieldPath{"config", -1}, w.Config)
	if err != nil {
		return nil, err
	}
	var wl []wireDescriptor
	if w.Layers != nil {
		wl = *w.Layers
	}
	layers, err := checkDescriptors("layers", wl)
	if err != nil {
		return nil, err
	}
	m := &Manifest{MediaType: mt, Config: &cfg, Layers: layers, Annotations: w.Annotations}
	if isDockerType(mt) {
		return m, nil
	}
	if m.Subject, m.ArtifactType, err = ociExtras(w); err != nil {
		return nil, err
	}
	if m.ArtifactType == "" {
		m.ArtifactType = cfg.MediaType
	}
	return m, nil
}

// buildIndex validates an index (OCI index or Docker manifest list).
func buildIndex(mt string, w *wireManifest) (*Manifest, error) {
	if w.Manifests == nil {
		return nil, errdefs.Invalid("manifest invalid: manifests is missing; an index needs a manifests array (it may be empty)")
	}
	children, err := checkDescriptors("manifests", *w.Manifests)
	if err != nil {
		return nil, err
	}
	m := &Manifest{MediaType: mt, Manifests: children, Annotations: w.Annotations}
	if isDockerType(mt) {
		return m, nil
	}
	if m.Subject, m.ArtifactType, err = ociExtras(w); err != nil {
		return nil, err
	}
	return m, nil
}

// ociExtras decodes and validates the fields only OCI types define: subject
// and artifactType.
func ociExtras(w *wireManifest) (*v1.Descriptor, string, error) {
	var artifactType string
	if len(w.ArtifactType) > 0 {
		if err := json.Unmarshal(w.ArtifactType, &artifactType); err != nil {
			return nil, "", jsonError("artifactType", err)
		}
	}
	if artifactType != "" && !validMediaType(artifactType) {
		return nil, "", errdefs.Invalid("manifest invalid: artifactType %q is not a valid media type (want type/subtype per RFC 6838)",
			artifactType)
	}
	var subject *wireDescriptor
	if len(w.Subject) > 0 {
		if err := json.Unmarshal(w.Subject, &subject); err != nil {
			return nil, "", jsonError("subject", err)
		}
	}
	if subject == nil {
		return nil, artifactType, nil
	}
	s, err := checkDescriptor(fieldPath{"subject", -1}, subject)
	if err != nil {
		return nil, "", err
	}
	return &s, artifactType, nil
}
