package s3

import (
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// The fixed names of the layout drawn in the package comment.
const (
	blobsDir   = "blobs"
	dataDir    = "data"
	uploadsDir = "uploads"
	markerName = "marker"
	probeDir   = ".berth-probe"
	tailPrefix = "tail-"
	// maxIDLen keeps keys far below S3's 1024-byte limit.
	maxIDLen = 128
)

// keys builds every object key of one store. prefix is empty or ends in
// "/".
type keys struct{ prefix string }

// newKeys returns the keys under prefix (with or without a trailing
// slash; empty for the bucket root).
func newKeys(prefix string) keys {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return keys{prefix: prefix}
}

// index returns blobs/<alg>/<hex>, the index object of dgst, or an
// ErrInvalid error for a malformed digest.
func (k keys) index(dgst digest.Digest) (string, error) {
	if err := validateDigest(dgst); err != nil {
		return "", err
	}
	return k.prefix + blobsDir + "/" + dgst.Algorithm().String() + "/" + dgst.Encoded(), nil
}

// dataRel returns data/<id>, the data object of upload id relative to the
// prefix: the form an index stores, so that it stays valid if the whole
// prefix moves. id must be valid.
func dataRel(id string) string { return dataDir + "/" + id }

// data returns the full key of the data object of upload id (valid).
func (k keys) data(id string) string { return k.prefix + dataRel(id) }

// dataFromRel returns the full key of the data object an index names, and
// its upload id, or an ErrUnavailable error if rel is not data/<valid id>
// (the index was not written by this driver).
func (k keys) dataFromRel(rel string) (key, id string, err error) {
	id, ok := strings.CutPrefix(rel, dataDir+"/")
	if !ok || validateID(id) != nil {
		return "", "", errdefs.Unavailable("index names %q, which is not a data object of this store", rel)
	}
	return k.prefix + rel, id, nil
}

// probe returns .berth-probe/<name>, the object of the start-up check.
func (k keys) probe(name string) string { return k.prefix + probeDir + "/" + name }

// dataRoot returns the prefix of all data objects.
func (k keys) dataRoot() string { return k.prefix + dataDir + "/" }

// uploadsRoot returns the prefix of all upload objects.
func (k keys) uploadsRoot() string { return k.prefix + uploadsDir + "/" }

// upload returns uploads/<id>/, the prefix of upload id's objects (id
// valid).
func (k keys) upload(id string) string { return k.uploadsRoot() + id + "/" }

// marker returns uploads/<id>/marker (id valid).
func (k keys) marker(id string) string { return k.upload(id) + markerName }

// tail returns uploads/<id>/<name> for a tail object name (id valid, name
// from newTailName or a decoded state checked by validTailName).
func (k keys) tail(id, name string) string { return k.upload(id) + name }

// uploadID returns the upload id of a key under uploads/ or data/, or ""
// if key is not one this store writes there.
func (k keys) uploadID(key string) string {
	if rest, ok := strings.CutPrefix(key, k.uploadsRoot()); ok {
		id, _, found := strings.Cut(rest, "/")
		if found && validateID(id) == nil {
			return id
		}
		return ""
	}
	if id, ok := strings.CutPrefix(key, k.dataRoot()); ok && validateID(id) == nil {
		return id
	}
	return ""
}

// validTailName reports whether name is a tail object name.
func validTailName(name string) bool {
	hex, ok := strings.CutPrefix(name, tailPrefix)
	if !ok || len(hex) == 0 || len(hex) > 32 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validateDigest accepts only well-formed digests of an algorithm
// go-digest knows, so that nothing but lowercase hex reaches a key.
func validateDigest(dgst digest.Digest) error {
	if err := dgst.Validate(); err != nil {
		return errdefs.Invalid("digest %q: %v", dgst, err)
	}
	return nil
}

// validateID accepts upload ids of 1 to maxIDLen characters from
// [A-Za-z0-9._-] starting with a letter or digit: UUIDs and base32 or
// base64url tokens, and nothing that could add a key segment.
func validateID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return errdefs.Invalid("upload id %q: must be 1 to %d characters", id, maxIDLen)
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
