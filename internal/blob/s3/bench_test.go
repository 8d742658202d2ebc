package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/berth-registry/berth/internal/s3test"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// rawSizes are blobtest's benchmark sizes plus a large layer.
var rawSizes = []int{64 << 10, 16 << 20, 256 << 20}

// BenchmarkRaw measures the S3 server's own speed with the same client
// library, as the baseline for the driver's numbers (BenchmarkConformance
// and BenchmarkLarge): Put/<size> PUTs one object of that size from
// memory in one request with an unsigned payload (no hashing at all), and
// Get/<size> GETs it to the end through a 256 KiB buffer.
func BenchmarkRaw(b *testing.B) {
	for _, size := range rawSizes {
		data := randomData(size, 90)
		b.Run("Put/"+sizeName(size), func(b *testing.B) {
			bkt := s3test.NewBucket(b)
			c := bkt.Server.Client
			b.SetBytes(int64(size))
			for b.Loop() {
				_, err := c.PutObject(context.Background(), bkt.Name, "raw", bytes.NewReader(data), int64(size), "", "",
					minio.PutObjectOptions{DisableContentSha256: true})
				if err != nil {
					b.Fatalf("PutObject: %v", err)
				}
			}
		})
		b.Run("Get/"+sizeName(size), func(b *testing.B) {
			bkt := s3test.NewBucket(b)
			c := bkt.Server.Client
			ctx := context.Background()
			if _, err := c.PutObject(ctx, bkt.Name, "raw", bytes.NewReader(data), int64(size), "", "",
				minio.PutObjectOptions{DisableContentSha256: true}); err != nil {
				b.Fatalf("PutObject: %v", err)
			}
			buf := make([]byte, 256<<10)
			b.SetBytes(int64(size))
			for b.Loop() {
				body, _, _, err := c.GetObject(ctx, bkt.Name, "raw", minio.GetObjectOptions{})
				if err != nil {
					b.Fatalf("GetObject: %v", err)
				}
				n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{body}, buf)
				body.Close()
				if err != nil || n != int64(size) {
					b.Fatalf("read %d bytes: %d, %v", size, n, err)
				}
			}
		})
	}
}

// BenchmarkRawMultipart measures the server on the path the driver takes
// for blobs larger than a part: a multipart upload of 256 MiB in 16 MiB
// parts (unsigned, sent one after another) and its completion, which
// makes the server assemble the object.
func BenchmarkRawMultipart(b *testing.B) {
	size, partSize := rawSizes[len(rawSizes)-1], DefaultPartSize
	data := randomData(size, 92)
	bkt := s3test.NewBucket(b)
	c := bkt.Server.Client
	ctx := context.Background()
	b.SetBytes(int64(size))
	for b.Loop() {
		mpu, err := c.NewMultipartUpload(ctx, bkt.Name, "raw", minio.PutObjectOptions{})
		if err != nil {
			b.Fatalf("NewMultipartUpload: %v", err)
		}
		var parts []minio.CompletePart
		for off, n := 0, 1; off < size; off, n = off+partSize, n+1 {
			p := data[off:min(off+partSize, size)]
			op, err := c.PutObjectPart(ctx, bkt.Name, "raw", mpu, n, bytes.NewReader(p), int64(len(p)),
				minio.PutObjectPartOptions{DisableContentSha256: true})
			if err != nil {
				b.Fatalf("PutObjectPart: %v", err)
			}
			parts = append(parts, minio.CompletePart{PartNumber: n, ETag: op.ETag})
		}
		if _, err := c.CompleteMultipartUpload(ctx, bkt.Name, "raw", mpu, parts, minio.PutObjectOptions{}); err != nil {
			b.Fatalf("CompleteMultipartUpload: %v", err)
		}
	}
}

// BenchmarkLarge measures the driver at the largest raw size, as
// blobtest's benchmarks do at smaller ones: Commit/<size> uploads in 32
// KiB writes and commits (deleting, untimed, after each), Read/<size>
// opens and reads to the end.
func BenchmarkLarge(b *testing.B) {
	size := rawSizes[len(rawSizes)-1]
	data := randomData(size, 91)
	dgst := digest.FromBytes(data)
	b.Run("Commit/"+sizeName(size), func(b *testing.B) {
		s, _ := newTestStore(b, Options{})
		ctx := context.Background()
		b.SetBytes(int64(size))
		for b.Loop() {
			storeBlob(b, s, data, 32<<10)
			b.StopTimer()
			if err := s.Delete(ctx, dgst); err != nil {
				b.Fatalf("Delete: %v", err)
			}
			b.StartTimer()
		}
	})
	b.Run("Read/"+sizeName(size), func(b *testing.B) {
		s, _ := newTestStore(b, Options{})
		storeBlob(b, s, data, 1<<20)
		buf := make([]byte, 256<<10)
		b.SetBytes(int64(size))
		for b.Loop() {
			r, err := s.Open(context.Background(), dgst)
			if err != nil {
				b.Fatalf("Open: %v", err)
			}
			n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{r}, buf)
			r.Close()
			if err != nil || n != int64(size) {
				b.Fatalf("read: %d, %v", n, err)
			}
		}
	})
}

// sizeName prints a size in KiB or MiB, as blobtest names its benchmarks.
func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
