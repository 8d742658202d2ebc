// Package layers turns an image stored in the registry into the filesystem a
// container of it would see, for scanners to read.
//
// Flatten streams every layer of one image manifest in order (gzip, zstd or
// plain tar, told apart by their first bytes), applies whiteouts (".wh.NAME"
// deletes NAME, ".wh..wh..opq" hides what lower layers put in its directory)
// and keeps two things: the list of every file of the final image with its
// metadata, in memory, and the content of the few files the caller asks for
// (Options.Keep), spilled to a private temporary directory under a size cap.
// A layer is never held in memory whole, so memory does not grow with image
// size; it grows with the number of files the image has (about 200 bytes
// each).
//
// The result is an FS (io/fs.FS, fs.ReadDirFS, fs.StatFS) over that list:
// directories and metadata of every file, content of the kept ones. Opening a
// file that was not kept fails with ErrNotKept.
//
// Platforms lists the image manifests of an index (every platform), so a
// caller flattens each in turn.
package layers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/manifest"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// BlobOpener opens the blob (layer, config or manifest) with the given
// digest. It is the registry's blob store in production and files in tests.
// A missing blob is an errdefs.ErrNotFound error.
type BlobOpener func(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error)

// LayerFile describes one regular file as it appears in one layer, for
// Options.Visit.
type LayerFile struct {
	// Layer is the digest of the layer blob holding the file.
	Layer digest.Digest
	// Path is the file's path in the image, slash-separated, without a
	// leading slash ("etc/passwd").
	Path string
	// Info is the file's metadata from the tar header.
	Info fs.FileInfo
}

// Options tune Flatten. The zero value keeps no file content.
type Options struct {
	// Keep reports whether the content of the regular file at path (image
	// path, no leading slash) should be kept so that FS.Open can read it.
	// info comes from the tar header. Symbolic links are always listed; a
	// link is readable when its target was kept. Nil keeps nothing.
	Keep func(path string, info fs.FileInfo) bool
	// Visit, when set, is called for every regular file of every layer in
	// order, including files an upper layer later deletes (a secret deleted
	// in a later layer is still in the image). r reads the file's content and
	// must not be kept after Visit returns; Visit need not read it all. An
	// error stops Flatten.
	Visit func(ctx context.Context, f LayerFile, r io.Reader) error
	// TempDir is where the private spill directory is created; "" means
	// os.TempDir().
	TempDir string
	// MaxFileSize is the largest file whose content is kept; larger files
	// are listed (see Image.Skipped) but not kept. 0 means 256 MiB.
	MaxFileSize int64
	// MaxKeptSize caps the total bytes kept; files past the cap are listed
	// but not kept. 0 means 2 GiB.
	MaxKeptSize int64
}

const (
	defaultMaxFileSize = 256 << 20
	defaultMaxKeptSize = 2 << 30
	// maxManifestSize bounds the manifests and configs read into memory.
	maxManifestSize = 4 << 20
)

// Image is one flattened image (one platform). Close removes its kept files.
type Image struct {
	// Manifest is the descriptor of the image manifest that was flattened.
	Manifest v1.Descriptor
	// Platform is the platform from the index entry, or from the config when
	// the image was not reached through an index.
	Platform *v1.Platform
	// Config is the decoded image configuration (user, env, history, …).
	Config v1.Image
	// ConfigDigest is the digest of the config blob.
	ConfigDigest digest.Digest
	// Layers are the layer descriptors in order (lowest first).
	Layers []v1.Descriptor
	// CompressedSize is the size the image takes in the registry: the
	// manifest, config and every layer as stored.
	CompressedSize int64
	// UncompressedSize is the sum of the sizes of every regular file in
	// every layer (including files later deleted).
	UncompressedSize int64
	// Skipped lists the paths Keep asked for whose content was not kept
	// because of MaxFileSize or MaxKeptSize, sorted.
	Skipped []string
	// FS is the final filesystem of the image.
	FS *FS
}

// Close removes the spilled files. The FS must not be used afterwards.
func (img *Image) Close() error {
	if img == nil || img.FS == nil {
		return nil
	}
	return img.FS.close()
}

// Platforms returns the image manifests desc stands for: desc itself when it
// is an image manifest, else every image manifest its index lists (nested
// indexes included), skipping attestation manifests (platform
// "unknown/unknown"). The Platform of each comes from the index entry.
func Platforms(ctx context.Context, open BlobOpener, desc v1.Descriptor) (out []v1.Descriptor, err error) {
	defer errdefs.Wrapf(&err, "list platforms of %s", desc.Digest)
	return platforms(ctx, open, desc, 0)
}

func platforms(ctx context.Context, open BlobOpener, desc v1.Descriptor, depth int) ([]v1.Descriptor, error) {
	if depth > 4 {
		return nil, errdefs.Invalid("indexes nested more than 4 deep")
	}
	m, err := readManifest(ctx, open, desc)
	if err != nil {
		return nil, err
	}
	if !m.IsIndex() {
		return []v1.Descriptor{desc}, nil
	}
	var out []v1.Descriptor
	for _, child := range m.Manifests {
		if child.Platform != nil && child.Platform.OS == "unknown" && child.Platform.Architecture == "unknown" {
			continue
		}
		if !manifest.IsManifestMediaType(child.MediaType) {
			continue
		}
		sub, err := platforms(ctx, open, child, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// Flatten builds the final filesystem of the image manifest desc (see the
// package comment). The caller must Close the result. Errors: a missing blob
// keeps its errdefs.ErrNotFound class; a malformed manifest, config or layer
// is errdefs.ErrInvalid; desc naming an index is errdefs.ErrInvalid (use
// Platforms first).
func Flatten(ctx context.Context, open BlobOpener, desc v1.Descriptor, opts Options) (img *Image, err error) {
	defer errdefs.Wrapf(&err, "flatten image %s", desc.Digest)
	m, err := readManifest(ctx, open, desc)
	if err != nil {
		return nil, err
	}
	if m.IsIndex() {
		return nil, errdefs.Invalid("%s is an index; flatten each of its platforms", desc.Digest)
	}
	img = &Image{Manifest: desc, Platform: desc.Platform, Layers: m.Layers, ConfigDigest: m.Config.Digest}
	img.CompressedSize = desc.Size + m.Config.Size
	for _, l := range m.Layers {
		img.CompressedSize += l.Size
	}
	if err := readJSON(ctx, open, *m.Config, &img.Config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if img.Platform == nil && img.Config.OS != "" {
		img.Platform = &img.Config.Platform
	}
	b, err := newBuilder(opts)
	if err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		if err := b.addLayer(ctx, open, i, l); err != nil {
			_ = b.fs.close()
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
	}
	img.UncompressedSize = b.uncompressed
	img.Skipped = b.skippedPaths()
	img.FS = b.fs
	return img, nil
}

// readManifest reads and parses the manifest desc names.
func readManifest(ctx context.Context, open BlobOpener, desc v1.Descriptor) (*manifest.Manifest, error) {
	body, err := readBlob(ctx, open, desc)
	if err != nil {
		return nil, err
	}
	return manifest.Parse(desc.MediaType, body)
}

// readJSON reads the blob desc names and decodes it into v.
func readJSON(ctx context.Context, open BlobOpener, desc v1.Descriptor, v any) error {
	body, err := readBlob(ctx, open, desc)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errdefs.Invalid("blob %s is not valid JSON: %v", desc.Digest, err)
	}
	return nil
}

// readBlob reads a small blob (manifest or config) whole, refusing one larger
// than maxManifestSize, and checks its digest.
func readBlob(ctx context.Context, open BlobOpener, desc v1.Descriptor) ([]byte, error) {
	if desc.Size > maxManifestSize {
		return nil, errdefs.TooLarge("blob %s is %d bytes; at most %d are read", desc.Digest, desc.Size, maxManifestSize)
	}
	rc, err := open(ctx, desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return nil, errdefs.Wrap(errdefs.ErrUnavailable, err, "read blob %s", desc.Digest)
	}
	if len(body) > maxManifestSize {
		return nil, errdefs.TooLarge("blob %s is larger than %d bytes", desc.Digest, maxManifestSize)
	}
	if desc.Digest.Validate() == nil && desc.Digest.Algorithm().FromBytes(body) != desc.Digest {
		return nil, errdefs.Invalid("blob %s does not match its digest", desc.Digest)
	}
	return body, nil
}

// FileOpener returns a BlobOpener reading blobs from dir/<algorithm>/<hex>,
// the layout of an OCI image layout's blobs directory. It serves tests and
// tools that scan an image on disk.
func FileOpener(dir string) BlobOpener {
	return func(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error) {
		if err := dgst.Validate(); err != nil {
			return nil, errdefs.Invalid("digest %q: %v", dgst, err)
		}
		f, err := os.Open(fmt.Sprintf("%s/%s/%s", dir, dgst.Algorithm(), dgst.Encoded()))
		if os.IsNotExist(err) {
			return nil, errdefs.NotFound("blob %s not found", dgst)
		}
		if err != nil {
			return nil, errdefs.Wrap(errdefs.ErrUnavailable, err, "open blob %s", dgst)
		}
		return f, nil
	}
}
