package manifest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

var (
	dgA    = digest.FromString("a").String()
	dgB    = digest.FromString("b").String()
	dg512  = digest.SHA512.FromString("a").String()
	cfgRaw = `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + dgA + `","size":1}`
)

// descRaw is a descriptor as JSON text; size is raw JSON, extra is appended
// fields (with a leading comma).
func descRaw(mt, dg, size, extra string) string {
	return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%s%s}`, mt, dg, size, extra)
}

// imageRaw is an OCI image manifest whose layers array holds the given JSON.
func imageRaw(layers ...string) string {
	return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` + cfgRaw +
		`,"layers":[` + strings.Join(layers, ",") + `]}`
}

// badLayer is an image with a valid layer 0 and 1 and the given layer 2, so
// messages must name layers[2].
func badLayer(mt, dg, size, extra string) string {
	ok := descRaw(mtLayerGzip, dgB, "2", "")
	return imageRaw(ok, ok, descRaw(mt, dg, size, extra))
}

func TestParseInvalid(t *testing.T) {
	oci, idx := MediaTypeImageManifest, MediaTypeImageIndex
	data := func(b []byte) string { return `,"data":"` + base64.StdEncoding.EncodeToString(b) + `"` }
	tests := []struct {
		name  string
		ct    string
		body  string
		class error
		msg   string // substring of the error message
	}{
		// Body shape.
		{"not utf-8", oci, "{\"schemaVersion\":2,\"x\":\"\xff\"}", errdefs.ErrInvalid, "not valid UTF-8"},
		{"empty body", oci, "", errdefs.ErrInvalid, "body is empty"},
		{"whitespace body", oci, " \n\t", errdefs.ErrInvalid, "body is empty"},
		{"top-level array", oci, `[` + imageRaw() + `]`, errdefs.ErrInvalid, "must be a JSON object"},
		{"top-level null", "", `null`, errdefs.ErrInvalid, "must be a JSON object"},
		{"top-level string", oci, `"{}"`, errdefs.ErrInvalid, "must be a JSON object"},
		{"trailing garbage", oci, imageRaw() + ` x`, errdefs.ErrInvalid, "not valid JSON"},
		{"two objects", oci, imageRaw() + imageRaw(), errdefs.ErrInvalid, "not valid JSON"},
		{"truncated", oci, imageRaw()[:40], errdefs.ErrInvalid, "not valid JSON"},
		{"byte order mark", oci, "\ufeff" + imageRaw(), errdefs.ErrInvalid, "must be a JSON object"},

		// schemaVersion and schema 1.
		{"schemaVersion missing", oci, `{"mediaType":"` + oci + `","config":` + cfgRaw + `}`, errdefs.ErrInvalid, "schemaVersion is missing"},
		{"schemaVersion 3", oci, strings.Replace(imageRaw(), `"schemaVersion":2`, `"schemaVersion":3`, 1), errdefs.ErrInvalid, "schemaVersion is 3; it must be 2"},
		{"schemaVersion string", oci, strings.Replace(imageRaw(), `"schemaVersion":2`, `"schemaVersion":"2"`, 1), errdefs.ErrInvalid, `field "schemaVersion" must be an integer`},
		{"schemaVersion float", oci, strings.Replace(imageRaw(), `"schemaVersion":2`, `"schemaVersion":2.5`, 1), errdefs.ErrInvalid, `field "schemaVersion"`},
		{"schema 1 body", "", schema1Body, errdefs.ErrUnsupported, "Docker schema 1 manifests are not supported"},
		{"schema 1 body, OCI content-type", oci, schema1Body, errdefs.ErrUnsupported, "skopeo copy --format v2s2"},
		{"schema 1 content-type", MediaTypeDockerSchema1, `not even json`, errdefs.ErrUnsupported, "Docker schema 1"},
		{"schema 1 signed content-type with parameters", MediaTypeDockerSchema1Signed + "; charset=utf-8", `{}`, errdefs.ErrUnsupported, "Docker schema 1"},
		{"schema 1 mediaType field", "", `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerSchema1 + `"}`, errdefs.ErrUnsupported, "Docker schema 1"},

		// Media type resolution.
		{"unknown body mediaType", "", strings.Replace(imageRaw(), oci, "application/vnd.example.thing+json", 1), errdefs.ErrInvalid,
			`mediaType "application/vnd.example.thing+json" is not a manifest type Berth accepts; accepted types are ` + acceptedTypesText},
		{"content-type and mediaType differ", idx, imageRaw(), errdefs.ErrInvalid,
			`Content-Type is "application/vnd.oci.image.index.v1+json" but the manifest's mediaType is "application/vnd.oci.image.manifest.v1+json"`},
		{"unknown content-type without mediaType", "text/plain", `{"schemaVersion":2,"config":` + cfgRaw + `}`, errdefs.ErrInvalid,
			`Content-Type "text/plain" is not a manifest type Berth accepts`},
		{"cannot detect type", "application/json", `{"schemaVersion":2}`, errdefs.ErrInvalid, "cannot tell the manifest type"},
		{"ambiguous structure", "", `{"schemaVersion":2,"config":` + cfgRaw + `,"manifests":[]}`, errdefs.ErrInvalid, "both manifests and config/layers"},

		// Required structure.
		{"image without config", oci, `{"schemaVersion":2,"mediaType":"` + oci + `","layers":[]}`, errdefs.ErrInvalid, "config is missing"},
		{"image with null config", oci, `{"schemaVersion":2,"config":null,"layers":[]}`, errdefs.ErrInvalid, "config is missing"},
		{"docker image without config", MediaTypeDockerManifest, `{"schemaVersion":2,"layers":[]}`, errdefs.ErrInvalid, "config is missing"},
		{"index without manifests", idx, `{"schemaVersion":2,"mediaType":"` + idx + `"}`, errdefs.ErrInvalid, "manifests is missing"},
		{"index with null manifests", idx, `{"schemaVersion":2,"manifests":null}`, errdefs.ErrInvalid, "manifests is missing"},
		{"docker list without manifests", MediaTypeDockerManifestList, `{"schemaVersion":2}`, errdefs.ErrInvalid, "manifests is missing"},
		{"layers not an array", oci, `{"schemaVersion":2,"config":` + cfgRaw + `,"layers":{}}`, errdefs.ErrInvalid, `field "layers" must be an array`},
		{"annotation value not a string", oci, `{"schemaVersion":2,"config":` + cfgRaw + `,"annotations":{"a":1}}`, errdefs.ErrInvalid, `field "annotations" must be a string`},
		{"artifactType not a string", oci, `{"schemaVersion":2,"artifactType":7,"config":` + cfgRaw + `}`, errdefs.ErrInvalid, `field "artifactType" must be a string, got number`},
		{"subject not an object", oci, `{"schemaVersion":2,"config":` + cfgRaw + `,"subject":[]}`, errdefs.ErrInvalid, `field "subject" must be an object, got array`},
		{"subject size not a number", idx, `{"schemaVersion":2,"manifests":[],"subject":{"size":"1"}}`, errdefs.ErrInvalid, `field "subject.size" must be an integer`},
		{"artifactType malformed", oci, `{"schemaVersion":2,"artifactType":"example","config":` + cfgRaw + `}`, errdefs.ErrInvalid, `artifactType "example" is not a valid media type`},

		// Descriptors.
		{"layer mediaType missing", oci, badLayer("", dgA, "1", ""), errdefs.ErrInvalid, "layers[2].mediaType is missing"},
		{"layer mediaType malformed", oci, badLayer("tar+gzip", dgA, "1", ""), errdefs.ErrInvalid, `layers[2].mediaType "tar+gzip" is not a valid media type`},
		{"layer mediaType with parameters", oci, badLayer("application/json; charset=utf-8", dgA, "1", ""), errdefs.ErrInvalid, "layers[2].mediaType"},
		{"layer digest bad hex", oci, badLayer(mtLayerGzip, "sha256:zz", "1", ""), errdefs.ErrInvalid, `manifest invalid: layers[2].digest "sha256:zz" is not a valid digest`},
		{"layer digest uppercase", oci, badLayer(mtLayerGzip, strings.ToUpper(dgA[:10])+dgA[10:], "1", ""), errdefs.ErrInvalid, `algorithm "SHA256" is not supported`},
		{"layer digest uppercase hex", oci, badLayer(mtLayerGzip, dgA[:7]+strings.ToUpper(dgA[7:]), "1", ""), errdefs.ErrInvalid, "not a lowercase hex digit"},
		{"layer digest short", oci, badLayer(mtLayerGzip, dgA[:70], "1", ""), errdefs.ErrInvalid, "a sha256 digest has 64 hex digits, this one has 63"},
		{"layer digest sha512 length", oci, badLayer(mtLayerGzip, "sha512:"+dgA[7:], "1", ""), errdefs.ErrInvalid, "a sha512 digest has 128 hex digits"},
		{"layer digest sha384", oci, badLayer(mtLayerGzip, digest.SHA384.FromString("a").String(), "1", ""), errdefs.ErrInvalid, `algorithm "sha384" is not supported (supported: sha256, sha512)`},
		{"layer digest no algorithm", oci, badLayer(mtLayerGzip, dgA[7:], "1", ""), errdefs.ErrInvalid, `no "algorithm:" prefix`},
		{"layer digest missing", oci, badLayer(mtLayerGzip, "", "1", ""), errdefs.ErrInvalid, `layers[2].digest "" is not a valid digest: it is empty`},
		{"layer size negative", oci, badLayer(mtLayerGzip, dgA, "-1", ""), errdefs.ErrInvalid, "layers[2].size is -1; it must not be negative"},
		{"layer size string", oci, badLayer(mtLayerGzip, dgA, `"1"`, ""), errdefs.ErrInvalid, `field "layers.size" must be an integer that fits in int64`},
		{"layer size fraction", oci, badLayer(mtLayerGzip, dgA, "1.5", ""), errdefs.ErrInvalid, `field "layers.size"`},
		{"layer size overflow", oci, badLayer(mtLayerGzip, dgA, "9223372036854775808", ""), errdefs.ErrInvalid, `field "layers.size"`},
		{"layer data not base64", oci, badLayer(mtLayerGzip, dgA, "1", `,"data":"!!"`), errdefs.ErrInvalid, "layers[2].data is not valid base64"},
		{"layer data not a string", oci, badLayer(mtLayerGzip, dgA, "1", `,"data":5`), errdefs.ErrInvalid, `field "layers.data" must be a string`},
		{"layer data size mismatch", oci, badLayer(mtLayerGzip, dgA, "2", data([]byte("a"))), errdefs.ErrInvalid, "layers[2].data holds 1 bytes but layers[2].size is 2"},
		{"layer data digest mismatch", oci, badLayer(mtLayerGzip, dgB, "1", data([]byte("a"))), errdefs.ErrInvalid, "layers[2].data does not match layers[2].digest"},
		{"layer data sha512 mismatch", oci, badLayer(mtLayerGzip, digest.SHA512.FromString("b").String(), "1", data([]byte("a"))), errdefs.ErrInvalid, "layers[2].data does not match"},
		{"config digest invalid", oci, `{"schemaVersion":2,"config":` + descRaw(mtImageConfig, "sha256:", "1", "") + `}`, errdefs.ErrInvalid, `config.digest "sha256:" is not a valid digest`},
		{"subject digest invalid", oci, `{"schemaVersion":2,"config":` + cfgRaw + `,"subject":` + descRaw(oci, "md5:abc", "1", "") + `}`, errdefs.ErrInvalid, `subject.digest "md5:abc"`},
		{"subject null is absent", oci, `{"schemaVersion":2,"config":` + descRaw(mtImageConfig, "x", "1", "") + `,"subject":null}`, errdefs.ErrInvalid, "config.digest"},
		{"index entry invalid", idx, `{"schemaVersion":2,"manifests":[` + descRaw(oci, dgA, "1", "") + `,` + descRaw(oci, dgA, "-5", "") + `]}`, errdefs.ErrInvalid, "manifests[1].size is -5"},
		{"index subject invalid", idx, `{"schemaVersion":2,"manifests":[],"subject":` + descRaw("", dg512, "1", "") + `}`, errdefs.ErrInvalid, "subject.mediaType is missing"},
		{"docker list entry invalid", MediaTypeDockerManifestList, `{"schemaVersion":2,"manifests":[` + descRaw(MediaTypeDockerManifest, "sha256:1", "1", "") + `]}`, errdefs.ErrInvalid, `manifests[0].digest "sha256:1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.ct, []byte(tt.body))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want an error", got)
			}
			if !errors.Is(err, tt.class) {
				t.Errorf("error %q is not of class %v", err, tt.class)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

// TestParseErrorMessageExact pins one full message, the example users see.
func TestParseErrorMessageExact(t *testing.T) {
	_, err := Parse(MediaTypeImageManifest, []byte(badLayer(mtLayerGzip, "sha256:zz", "1", "")))
	want := `manifest invalid: layers[2].digest "sha256:zz" is not a valid digest: a sha256 digest has 64 hex digits, this one has 2`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}
