package filesystem

import (
	"fmt"
	"path/filepath"

	"github.com/berth-registry/berth/internal/blob"
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

// validateDigest and validateID are the blob package's rules, which make
// digests and ids safe to build paths and keys from.
var (
	validateDigest = blob.ValidateDigest
	validateID     = blob.ValidateUploadID
)
