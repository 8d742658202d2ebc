package manifest

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// wireDescriptor decodes a descriptor. Its Data field shadows the embedded
// v1.Descriptor.Data (encoding/json prefers the shallower field) so that bad
// base64 is reported with the descriptor's path instead of by encoding/json
// without one.
type wireDescriptor struct {
	v1.Descriptor
	Data *string `json:"data,omitempty"`
}

// digestSpec describes one digest algorithm Berth accepts.
type digestSpec struct {
	alg    digest.Algorithm
	hexLen int
}

// supportedDigests are the algorithms the image-spec registers; Berth
// verifies both.
var supportedDigests = [...]digestSpec{
	{digest.SHA256, 64},
	{digest.SHA512, 128},
}

// checkDigest reports why s is not a digest Berth accepts, or "" if it is:
// "sha256:" followed by 64 lowercase hex digits, or "sha512:" and 128.
// The result is what digest.Parse would accept, restricted to those two
// algorithms.
func checkDigest(s string) string {
	if s == "" {
		return "it is empty"
	}
	alg, enc, ok := strings.Cut(s, ":")
	if !ok {
		return `it has no "algorithm:" prefix (want sha256:<64 hex digits> or sha512:<128 hex digits>)`
	}
	var spec *digestSpec
	for i := range supportedDigests {
		if alg == string(supportedDigests[i].alg) {
			spec = &supportedDigests[i]
		}
	}
	if spec == nil {
		return fmt.Sprintf("algorithm %q is not supported (supported: sha256, sha512)", alg)
	}
	if len(enc) != spec.hexLen {
		return fmt.Sprintf("a %s digest has %d hex digits, this one has %d", alg, spec.hexLen, len(enc))
	}
	for i := 0; i < len(enc); i++ {
		if c := enc[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Sprintf("character %q at position %d is not a lowercase hex digit", c, len(alg)+1+i)
		}
	}
	return ""
}

// sumOf returns the raw hash of data under algorithm alg (sha256 or sha512;
// callers have validated alg with checkDigest).
func sumOf(alg digest.Algorithm, data []byte) []byte {
	if alg == digest.SHA512 {
		s := sha512.Sum512(data)
		return s[:]
	}
	s := sha256.Sum256(data)
	return s[:]
}

// fieldPath names where a descriptor sits in the manifest, e.g. "config" or
// "layers[2]". It is formatted only when an error needs it.
type fieldPath struct {
	name  string
	index int // -1 for a single descriptor
}

func (p fieldPath) String() string {
	if p.index < 0 {
		return p.name
	}
	return fmt.Sprintf("%s[%d]", p.name, p.index)
}

// checkDescriptor validates d, found at path field, and returns it as a
// v1.Descriptor with any embedded data decoded.
func checkDescriptor(field fieldPath, d *wireDescriptor) (v1.Descriptor, error) {
	out := d.Descriptor
	if out.MediaType == "" {
		return out, errdefs.Invalid("manifest invalid: %s.mediaType is missing", field)
	}
	if !validMediaType(out.MediaType) {
		return out, errdefs.Invalid("manifest invalid: %s.mediaType %q is not a valid media type (want type/subtype per RFC 6838)",
			field, out.MediaType)
	}
	if why := checkDigest(string(out.Digest)); why != "" {
		return out, errdefs.Invalid("manifest invalid: %s.digest %q is not a valid digest: %s", field, out.Digest, why)
	}
	if out.Size < 0 {
		return out, errdefs.Invalid("manifest invalid: %s.size is %d; it must not be negative", field, out.Size)
	}
	if d.Data == nil {
		out.Data = nil
		return out, nil
	}
	data, err := base64.StdEncoding.DecodeString(*d.Data)
	if err != nil {
		return out, errdefs.Invalid("manifest invalid: %s.data is not valid base64: %v", field, err)
	}
	if int64(len(data)) != out.Size {
		return out, errdefs.Invalid("manifest invalid: %s.data holds %d bytes but %s.size is %d", field, len(data), field, out.Size)
	}
	want, _ := hex.DecodeString(out.Digest.Encoded()) // validated by checkDigest
	if !bytes.Equal(sumOf(out.Digest.Algorithm(), data), want) {
		return out, errdefs.Invalid("manifest invalid: %s.data does not match %s.digest %s", field, field, out.Digest)
	}
	out.Data = data
	return out, nil
}

// checkDescriptors validates a list of descriptors found at JSON path name.
func checkDescriptors(name string, ds []wireDescriptor) ([]v1.Descriptor, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	out := make([]v1.Descriptor, len(ds))
	for i := range ds {
		d, err := checkDescriptor(fieldPath{name, i}, &ds[i])
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}
