package s3

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob/blobtest"
	"github.com/berth-registry/berth/internal/s3test"
	"github.com/minio/minio-go/v7"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// newTestStore opens a store on a fresh bucket, logging to the test's
// output.
func newTestStore(tb testing.TB, opts Options) (*Store, *s3test.Bucket) {
	tb.Helper()
	b := s3test.NewBucket(tb)
	return openTestStore(tb, b.URL, opts), b
}

// openTestStore opens another Store (another replica) on url.
func openTestStore(tb testing.TB, url string, opts Options) *Store {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(tb.Output(), nil))
	}
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// leftovers lists what the bucket holds besides committed blobs:
// multipart uploads in progress, every object under uploads/, data
// objects that no index names, and anything outside the layout.
func leftovers(tb testing.TB, s *Store) []string {
	tb.Helper()
	ctx := context.Background()
	var left []string
	err := s.eachMultipartUpload(ctx, s.keys.prefix, func(u minio.ObjectMultipartInfo) error {
		left = append(left, "multipart upload of "+u.Key)
		return nil
	})
	if err != nil {
		tb.Fatalf("list multipart uploads: %v", err)
	}
	objs, err := s.listKeys(ctx, s.keys.prefix)
	if err != nil {
		tb.Fatalf("list objects: %v", err)
	}
	named := make(map[string]bool) // data keys some index names
	for _, oi := range objs {
		if strings.HasPrefix(oi.Key, s.keys.prefix+blobsDir+"/") {
			named[indexedData(tb, s, oi.Key)] = true
		}
	}
	for _, oi := range objs {
		switch k := oi.Key; {
		case strings.HasPrefix(k, s.keys.prefix+blobsDir+"/"):
		case strings.HasPrefix(k, s.keys.dataRoot()) && named[k]:
		default:
			left = append(left, k)
		}
	}
	slices.Sort(left)
	return left
}

// indexedData returns the data key the index object at key names.
func indexedData(tb testing.TB, s *Store, key string) string {
	tb.Helper()
	oi, err := s.core.StatObject(context.Background(), s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		tb.Fatalf("stat index %s: %v", key, err)
	}
	dataKey, _, err := s.keys.dataFromRel(oi.Metadata.Get("X-Amz-Meta-" + metaData))
	if err != nil {
		tb.Fatalf("index %s: %v", key, err)
	}
	return dataKey
}

func harness(tb testing.TB) blobtest.Harness {
	// The smallest part size S3 allows, so that the streaming checks of
	// the suite (16 MiB in all allocated) hold with room to spare; the
	// default of 16 MiB alone would use it all. Memory with the default
	// is checked by TestMemoryBounded.
	s, _ := newTestStore(tb, Options{PartSize: MinPartSize})
	return blobtest.Harness{Store: s, Leftovers: func(t *testing.T) []string { return leftovers(t, s) }}
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blobtest.Harness { return harness(t) })
}

// BenchmarkConformance measures the driver as deployed (default part
// size); BenchmarkRaw measures the server itself for comparison.
func BenchmarkConformance(b *testing.B) {
	blobtest.RunBenchmarks(b, func(b *testing.B) blobtest.Harness {
		s, _ := newTestStore(b, Options{})
		return blobtest.Harness{Store: s, Leftovers: func(t *testing.T) []string { return leftovers(t, s) }}
	})
}
