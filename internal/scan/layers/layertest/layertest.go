// Package layertest builds OCI images on disk for the scanning tests: layers
// from in-memory files or streamed from a function, image manifests, configs
// and indexes, stored as blobs under one directory that layers.FileOpener
// reads.
package layertest

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/scan/layers"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Compression selects how Layer compresses a layer.
type Compression int

// The compressions.
const (
	Gzip Compression = iota
	Zstd
	Plain
)

// File is one tar entry. Type defaults to a regular file (or a symlink when
// Link is set); Mode defaults to 0644.
type File struct {
	Path string
	Body []byte
	Mode int64
	Link string
	Type byte
}

// Whiteout returns the entry deleting path in an upper layer.
func Whiteout(path string) File {
	dir, base := filepath.Split(path)
	return File{Path: dir + ".wh." + base}
}

// Opaque returns the entry making dir opaque.
func Opaque(dir string) File { return File{Path: dir + "/.wh..wh..opq"} }

// Store is a directory of blobs laid out as <dir>/sha256/<hex>.
type Store struct {
	Dir string
}

// NewStore makes an empty store in a test temp directory.
func NewStore(tb testing.TB) *Store {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sha256"), 0o755); err != nil {
		tb.Fatal(err)
	}
	return &Store{Dir: dir}
}

// Opener reads the store's blobs.
func (s *Store) Opener() layers.BlobOpener { return layers.FileOpener(s.Dir) }

// Put stores b and returns its descriptor with media type mt.
func (s *Store) Put(tb testing.TB, mt string, b []byte) v1.Descriptor {
	tb.Helper()
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(s.Dir, "sha256", d.Encoded()), b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}
}

// Layer stores a layer holding files.
func (s *Store) Layer(tb testing.TB, c Compression, files ...File) v1.Descriptor {
	tb.Helper()
	return s.LayerFunc(tb, c, func(tw *tar.Writer) error {
		for _, f := range files {
			if err := WriteFile(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteFile writes one entry to tw.
func WriteFile(tw *tar.Writer, f File) error {
	hdr := &tar.Header{Name: f.Path, Mode: f.Mode, ModTime: time.Unix(1700000000, 0), Typeflag: f.Type, Linkname: f.Link}
	if hdr.Mode == 0 {
		hdr.Mode = 0o644
	}
	if hdr.Typeflag == 0 {
		hdr.Typeflag = tar.TypeReg
		if f.Link != "" {
			hdr.Typeflag = tar.TypeSymlink
		}
	}
	if hdr.Typeflag == tar.TypeReg {
		hdr.Size = int64(len(f.Body))
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg {
		_, err := tw.Write(f.Body)
		return err
	}
	return nil
}

// LayerFunc stores a layer whose tar entries write produces, streaming it to
// disk so that large layers never sit in memory.
func (s *Store) LayerFunc(tb testing.TB, c Compression, write func(tw *tar.Writer) error) v1.Descriptor {
	tb.Helper()
	tmp, err := os.CreateTemp(s.Dir, "layer-")
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	counter := &countWriter{w: io.MultiWriter(tmp, h)}
	var zw io.WriteCloser
	mt := v1.MediaTypeImageLayerGzip
	switch c {
	case Gzip:
		zw, _ = gzip.NewWriterLevel(counter, gzip.BestSpeed)
	case Zstd:
		zw, err = zstd.NewWriter(counter, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			tb.Fatal(err)
		}
		mt = v1.MediaTypeImageLayerZstd
	default:
		zw = nopCloser{counter}
		mt = v1.MediaTypeImageLayer
	}
	tw := tar.NewWriter(zw)
	if err := write(tw); err != nil {
		tb.Fatal(err)
	}
	for _, cl := range []io.Closer{tw, zw, tmp} {
		if err := cl.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	d := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(s.Dir, "sha256", d.Encoded())); err != nil {
		tb.Fatal(err)
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: counter.n}
}

// Image stores a config and an image manifest over layers and returns the
// manifest's descriptor (with platform set from cfg).
func (s *Store) Image(tb testing.TB, cfg v1.Image, layerDescs ...v1.Descriptor) v1.Descriptor {
	tb.Helper()
	if cfg.OS == "" {
		cfg.OS, cfg.Architecture = "linux", "amd64"
	}
	cfg.RootFS.Type = "layers"
	cfgDesc := s.Put(tb, v1.MediaTypeImageConfig, mustJSON(tb, cfg))
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: cfgDesc, Layers: layerDescs}
	m.SchemaVersion = 2
	if m.Layers == nil {
		m.Layers = []v1.Descriptor{}
	}
	desc := s.Put(tb, v1.MediaTypeImageManifest, mustJSON(tb, m))
	p := cfg.Platform
	desc.Platform = &p
	return desc
}

// Index stores an index of manifests and returns its descriptor.
func (s *Store) Index(tb testing.TB, manifests ...v1.Descriptor) v1.Descriptor {
	tb.Helper()
	idx := v1.Index{MediaType: v1.MediaTypeImageIndex, Manifests: manifests}
	idx.SchemaVersion = 2
	return s.Put(tb, v1.MediaTypeImageIndex, mustJSON(tb, idx))
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(fmt.Errorf("marshal: %w", err))
	}
	return b
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// PeakHeap samples the live heap every millisecond until the returned stop
// is called, and stop returns the largest value seen: the memory figure of
// the scanning benchmarks.
func PeakHeap() (stop func() uint64) {
	var (
		peak uint64
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak }
}
