package inventory_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/berth-registry/berth/internal/scan/layers"
	"github.com/berth-registry/berth/internal/scan/layers/layertest"
	"github.com/berth-registry/berth/internal/scan/secrets"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// benchImageSize is the uncompressed size of the generated image: 64 MiB by
// default, BERTH_BENCH_IMAGE_MB MiB when set (1024 for the 1 GB figure in
// docs/benchmarks.md).
func benchImageSize(b *testing.B) int64 {
	mb := int64(64)
	if v := os.Getenv("BERTH_BENCH_IMAGE_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("BERTH_BENCH_IMAGE_MB=%q: want a positive number of MiB", v)
		}
		mb = n
	}
	return mb << 20
}

// buildLargeImage writes an image of about size bytes in 8 layers: this
// machine's dpkg status and os-release, then files of 4 KiB to 4 MiB of
// pseudo-random (incompressible) bytes, a tenth of them executable so the Go
// binary extractor asks for them, and a package-lock.json per layer.
func buildLargeImage(b *testing.B, st *layertest.Store, size int64) v1.Descriptor {
	b.Helper()
	descs := []v1.Descriptor{st.Layer(b, layertest.Gzip, debianFiles(b)...)}
	const nLayers = 8
	perLayer := size / nLayers
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for l := range nLayers {
		descs = append(descs, st.LayerFunc(b, layertest.Gzip, func(tw *tar.Writer) error {
			if err := layertest.WriteFile(tw, layertest.File{Path: fmt.Sprintf("app%d/package-lock.json", l), Body: []byte(packageLock)}); err != nil {
				return err
			}
			var written int64
			for i := 0; written < perLayer; i++ {
				n := int64(4<<10) << rng.IntN(11) // 4 KiB … 4 MiB
				mode := int64(0o644)
				if i%10 == 0 {
					mode = 0o755
				}
				hdr := &tar.Header{Name: fmt.Sprintf("data%d/dir%d/file%d", l, i%50, i), Mode: mode, Size: n, Typeflag: tar.TypeReg}
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				if _, err := io.CopyN(tw, rngReader{rng}, n); err != nil {
					return err
				}
				written += n
			}
			return nil
		}))
	}
	return st.Image(b, v1.Image{}, descs...)
}

type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := 0; i+8 <= len(p); i += 8 {
		v := r.r.Uint64()
		for j := range 8 {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	return len(p), nil
}

// BenchmarkScanLargeImage flattens and inventories a generated image with
// secret scanning on, reporting the peak live heap during the scan. Memory
// must stay flat as BERTH_BENCH_IMAGE_MB grows.
func BenchmarkScanLargeImage(b *testing.B) {
	size := benchImageSize(b)
	st := layertest.NewStore(b)
	desc := buildLargeImage(b, st, size)
	s := newScanner(b)
	tmp := b.TempDir()
	runtime.GC()
	b.SetBytes(size)
	b.ResetTimer()
	var peak uint64
	for b.Loop() {
		stop := layertest.PeakHeap()
		sec := secrets.New(secrets.Options{})
		res, err := s.ScanImage(context.Background(), st.Opener(), desc, layers.Options{TempDir: tmp, Visit: sec.Visit})
		p := stop()
		if err != nil {
			b.Fatal(err)
		}
		if len(res) != 1 || len(res[0].Packages) < 50 {
			b.Fatalf("scan found too little: %d results", len(res))
		}
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
