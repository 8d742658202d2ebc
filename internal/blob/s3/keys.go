package s3

import (
	"github.com/berth-registry/berth/internal/blob"
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

// validateDigest and validateID are the blob package's rules, which make
// digests and ids safe to build paths and keys from.
var (
	validateDigest = blob.ValidateDigest
	validateID     = blob.ValidateUploadID
)
