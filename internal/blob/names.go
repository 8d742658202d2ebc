package blob

import (
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// MaxUploadIDLen is the longest upload id a driver must accept.
const MaxUploadIDLen = 128

// ValidateUploadID accepts upload ids of 1 to MaxUploadIDLen characters from
// [A-Za-z0-9._-] that start with a letter or digit: UUIDs and base32 or
// base64url tokens. That rules out separators, "." and "..", hidden names,
// NUL and anything a shell, another OS or an object key would read
// specially, so drivers can build paths and keys from ids directly. It
// returns an ErrInvalid error otherwise.
func ValidateUploadID(id string) error {
	if id == "" || len(id) > MaxUploadIDLen {
		return errdefs.Invalid("upload id %q: must be 1 to %d characters", id, MaxUploadIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if alnum || i > 0 && (c == '.' || c == '_' || c == '-') {
			continue
		}
		return errdefs.Invalid("upload id %q: character %q at %d is not allowed (use letters, digits, '.', '_' and '-', starting with a letter or digit)", id, c, i)
	}
	return nil
}

// ValidateDigest accepts only well-formed digests of an algorithm go-digest
// supports: an algorithm from a fixed list and lowercase hex of the right
// length, so no separator, dot or NUL can reach a path or key. It returns an
// ErrInvalid error otherwise.
func ValidateDigest(dgst digest.Digest) error {
	if err := dgst.Validate(); err != nil {
		return errdefs.Invalid("digest %q: %v", dgst, err)
	}
	return nil
}
