package filesystem

import (
	"fmt"
	"path/filepath"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// The names of the fixed parts of the layout drawn in the package comment.
const (
	blobsDirName   = "blobs"
	uploadsDirName = "uploads"
	uploadDataName = "data"
	// uploadRewoundName marks an upload whose data was cut back to an
	// older state at least once (see Store.ResumeWriter).
	uploadRewoundName = "rewound"
	// maxIDLen keeps an upload directory name well inside the 255-byte
	// limit of common filesystems.
	maxIDLen = 128
)

// pathSpec names one place in the layout. The concrete types below are the
// only places there are; pathFor turns them into paths.
type pathSpec interface{ isPathSpec() }

type (
	// blobsRootSpec is <root>/blobs.
	blobsRootSpec struct{}
	// blobSpec is <root>/blobs/<alg>/<hex[0:2]>/<hex>.
	blobSpec struct{ dgst digest.Digest }
	// uploadsRootSpec is <root>/uploads.
	uploadsRootSpec struct{}
	// uploadDirSpec is <root>/uploads/<id>.
	uploadDirSpec struct{ id string }
	// uploadDataSpec is <root>/uploads/<id>/data.
	uploadDataSpec struct{ id string }
	// uploadRewoundSpec is <root>/uploads/<id>/rewound.
	uploadRewoundSpec struct{ id string }
)

func (blobsRootSpec) isPathSpec()     {}
func (blobSpec) isPathSpec()          {}
func (uploadsRootSpec) isPathSpec()   {}
func (uploadDirSpec) isPathSpec()     {}
func (uploadDataSpec) isPathSpec()    {}
func (uploadRewoundSpec) isPathSpec() {}

// pathFor returns the absolute path of spec under root. It validates the
// digest or upload id in spec first and returns an ErrInvalid error if it
// could name anything but its own place in the layout.
func pathFor(root string, spec pathSpec) (string, error) {
	switch s := spec.(type) {
	case blobsRootSpec:
		return filepath.Join(root, blobsDirName), nil
	case uploadsRootSpec:
		return filepath.Join(root, uploadsDirName), nil
	case blobSpec:
		if err := validateDigest(s.dgst); err != nil {
			return "", err
		}
		hex := s.dgst.Encoded()
		return filepath.Join(root, blobsDirName, s.dgst.Algorithm().String(), hex[:2], hex), nil
	case uploadDirSpec:
		if err := validateID(s.id); err != nil {
			return "", err
		}
		return filepath.Join(root, uploadsDirName, s.id), nil
	case uploadDataSpec:
		if err := validateID(s.id); err != nil {
			return "", err
		}
		return filepath.Join(root, uploadsDirName, s.id, uploadDataName), nil
	case uploadRewoundSpec:
		if err := validateID(s.id); err != nil {
			return "", err
		}
		return filepath.Join(root, uploadsDirName, s.id, uploadRewoundName), nil
	default:
		// Unreachable: every spec type is handled above.
		panic(fmt.Sprintf("filesystem: unknown path spec %T", spec))
	}
}

// validateDigest accepts only well-formed digests of an algorithm go-digest
// supports (sha256, sha384, sha512): an algorithm from a fixed list and
// lowercase hex of the right length, so no separator, dot or NUL can reach a
// path.
func validateDigest(dgst digest.Digest) error {
	if err := dgst.Validate(); err != nil {
		return errdefs.Invalid("digest %q: %v", dgst, err)
	}
	return nil
}

// validateID accepts upload ids of 1 to maxIDLen characters from
// [A-Za-z0-9._-] that start with a letter or digit. That covers UUIDs and
// base32/base64url tokens and rules out separators, "." and "..", hidden
// names, NUL and anything a shell or another OS might read specially.
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
