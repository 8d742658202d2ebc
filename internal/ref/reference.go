package ref

import (
	// go-digest finds its hashes through crypto.Hash.Available; linking both
	// here means every digest ParseDigest accepts can also be verified.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// digestHexLen maps each supported digest algorithm to its encoded length.
var digestHexLen = map[digest.Algorithm]int{
	digest.SHA256: 64,
	digest.SHA512: 128,
}

// ParseReference parses the <reference> of a manifest URL. A reference
// containing ":" is a digest and must be sha256 or sha512 with the exact
// number of lowercase hex digits; anything else is a tag (see ValidTag).
// Exactly one of tag and dgst is set on success. Errors are of class
// errdefs.ErrInvalid.
func ParseReference(s string) (tag string, dgst digest.Digest, err error) {
	if !strings.Contains(s, ":") {
		if err := ValidTag(s); err != nil {
			return "", "", err
		}
		return s, "", nil
	}
	d, err := ParseDigest(s)
	if err != nil {
		return "", "", err
	}
	return "", d, nil
}

// ParseDigest parses s as a digest Berth supports: "sha256:" and 64
// lowercase hex digits, or "sha512:" and 128. Other algorithms, even when
// well-formed, are refused with an error listing the supported ones. Errors
// are of class errdefs.ErrInvalid.
func ParseDigest(s string) (digest.Digest, error) {
	alg, enc, ok := strings.Cut(s, ":")
	if !ok {
		return "", errdefs.Invalid(`invalid digest %q: want "<algorithm>:<hex>", for example sha256:<64 hex digits>`, s)
	}
	n, supported := digestHexLen[digest.Algorithm(alg)]
	if !supported {
		return "", errdefs.Invalid("invalid digest %q: algorithm %q is not supported; supported algorithms are sha256 and sha512", s, alg)
	}
	if len(enc) != n {
		return "", errdefs.Invalid("invalid digest %q: a %s digest has %d hex digits, this one has %d", s, alg, n, len(enc))
	}
	for i := 0; i < len(enc); i++ {
		if c := enc[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", errdefs.Invalid("invalid digest %q: %s at offset %d is not a lowercase hex digit", s, describeAt(s, len(alg)+1+i), len(alg)+1+i)
		}
	}
	return digest.Digest(s), nil
}
