package layers

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// builder applies layers one after another to an FS.
type builder struct {
	opts         Options
	fs           *FS
	kept         int64
	uncompressed int64
	skipped      map[string]bool
}

func newBuilder(opts Options) (*builder, error) {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = defaultMaxFileSize
	}
	if opts.MaxKeptSize <= 0 {
		opts.MaxKeptSize = defaultMaxKeptSize
	}
	dir, err := os.MkdirTemp(opts.TempDir, "berth-layers-")
	if err != nil {
		return nil, errdefs.Wrap(errdefs.ErrUnavailable, err, "create spill directory")
	}
	return &builder{opts: opts, fs: newFS(dir), skipped: map[string]bool{}}, nil
}

func (b *builder) skippedPaths() []string {
	out := make([]string, 0, len(b.skipped))
	for p := range b.skipped {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// addLayer streams one layer blob and applies it.
func (b *builder) addLayer(ctx context.Context, open BlobOpener, idx int, desc v1.Descriptor) error {
	rc, err := open(ctx, desc.Digest)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer rc.Close()
	r, closeR, err := decompress(rc)
	if err != nil {
		return err
	}
	defer closeR()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errdefs.Invalid("read tar: %v", err)
		}
		if err := b.apply(ctx, idx, desc.Digest, hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
}

// decompress sniffs the stream's first bytes: gzip, zstd, else plain tar.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, errdefs.Invalid("gzip: %v", err)
		}
		return zr, func() { _ = zr.Close() }, nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, errdefs.Invalid("zstd: %v", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// cleanPath turns a tar entry name into an image path: slash-separated, no
// leading slash, no "." or ".." elements (".." cannot climb above the root).
// The root itself is "".
func cleanPath(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

// apply applies one tar entry of layer idx.
func (b *builder) apply(ctx context.Context, idx int, layer digest.Digest, hdr *tar.Header, r io.Reader) error {
	p := cleanPath(hdr.Name)
	if p == "" {
		return nil
	}
	p = b.fs.canonical(p)
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if base == opaqueMarker {
		b.fs.opaque(dir, idx)
		return nil
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		b.fs.remove(path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
		return nil
	}
	info := hdr.FileInfo()
	switch hdr.Typeflag {
	case tar.TypeDir:
		b.fs.putDir(p, info, idx)
	case tar.TypeSymlink:
		b.fs.put(p, &node{mode: fs.ModeSymlink | 0o777, link: hdr.Linkname, modTime: hdr.ModTime}, idx)
	case tar.TypeLink:
		b.hardlink(p, cleanPath(hdr.Linkname), idx)
	case tar.TypeReg: // the reader reports old TypeRegA entries as TypeReg
		return b.regular(ctx, idx, layer, p, info, r)
	default:
		// Devices, fifos and the like: listed, never read.
		b.fs.put(p, &node{mode: info.Mode(), modTime: hdr.ModTime}, idx)
	}
	return nil
}

// regular records a regular file, spilling it when Keep wants it, and hands
// it to Visit.
func (b *builder) regular(ctx context.Context, idx int, layer digest.Digest, p string, info fs.FileInfo, r io.Reader) error {
	b.uncompressed += info.Size()
	n := &node{mode: info.Mode(), size: info.Size(), modTime: info.ModTime()}
	if b.opts.Keep != nil && b.opts.Keep(p, info) {
		switch {
		case info.Size() > b.opts.MaxFileSize, b.kept+info.Size() > b.opts.MaxKeptSize:
			b.skipped[p] = true
		default:
			b.fs.put(p, n, idx) // frees what an older version of p kept
			if err := b.spill(p, r, info.Size()); err != nil {
				return err
			}
			n.kept = true
			b.kept += info.Size()
			delete(b.skipped, p)
			if b.opts.Visit != nil {
				return b.visitKept(ctx, layer, p, info)
			}
			return nil
		}
	}
	b.fs.put(p, n, idx)
	if b.opts.Visit != nil {
		return b.opts.Visit(ctx, LayerFile{Layer: layer, Path: p, Info: info}, r)
	}
	return nil
}

// spill copies size bytes of r to the spill file of p.
func (b *builder) spill(p string, r io.Reader, size int64) error {
	dst := b.fs.spillPath(p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "spill %s", p)
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "spill %s", p)
	}
	_, err = io.CopyN(f, r, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errdefs.Invalid("file %s is shorter than its header says", p)
	}
	if err != nil {
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "spill %s", p)
	}
	return nil
}

// visitKept hands a just-spilled file to Visit, reading it back from disk
// since the tar stream was consumed.
func (b *builder) visitKept(ctx context.Context, layer digest.Digest, p string, info fs.FileInfo) error {
	f, err := os.Open(b.fs.spillPath(p))
	if err != nil {
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "reopen %s", p)
	}
	defer f.Close()
	return b.opts.Visit(ctx, LayerFile{Layer: layer, Path: p, Info: info}, f)
}

// hardlink records p as a hard link to target, sharing its kept content.
func (b *builder) hardlink(p, target string, idx int) {
	t := b.fs.lookup(target)
	if t == nil || t.mode.IsDir() {
		return
	}
	n := &node{mode: t.mode, size: t.size, modTime: t.modTime, link: t.link}
	b.fs.put(p, n, idx)
	if t.kept {
		dst := b.fs.spillPath(p)
		if os.MkdirAll(filepath.Dir(dst), 0o700) == nil && os.Link(b.fs.spillPath(target), dst) == nil {
			n.kept = true
		}
	}
}
