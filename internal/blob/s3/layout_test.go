package s3

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/s3test"
	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// rawKeys lists every key in bucket b, prefix or not.
func rawKeys(t *testing.T, b *s3test.Bucket) []string {
	t.Helper()
	var keys []string
	for oi := range b.Server.Client.Client.ListObjects(context.Background(), b.Name, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			t.Fatalf("list bucket: %v", oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	slices.Sort(keys)
	return keys
}

// withPrefix returns the store URL of bucket b with a key prefix.
func withPrefix(b *s3test.Bucket, prefix string) string {
	if prefix == "" {
		return b.URL
	}
	name, query, _ := strings.Cut(b.URL, "?")
	return name + "/" + prefix + "?" + query
}

// TestLayout holds the driver to the layout drawn in the package comment:
// while an upload is open it has a marker and a tail (and a multipart
// upload once it outgrew a part); once committed, exactly one data object
// and one index object exist, the index names the data object and its
// size as metadata, and nothing lies outside the prefix.
func TestLayout(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		size   int
		// partial is how much is written and flushed before the upload's
		// objects are checked the first time.
		partial int
	}{
		{"single PUT", "", 100_000, 40_000},
		{"multipart", "", 2*MinPartSize + 12_345, MinPartSize + 1000},
		{"under a prefix, flushed at a part boundary", "team/berth", 2*MinPartSize + 1, MinPartSize},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := s3test.NewBucket(t)
			s := openTestStore(t, withPrefix(b, tc.prefix), Options{PartSize: MinPartSize})
			data := randomData(tc.size, uint64(i))
			id := newUploadID()
			w, err := s.NewWriter(ctx, id)
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			defer w.Cancel(ctx)
			writeAll(t, w, data[:tc.partial], 64<<10)
			if err := w.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			// Whole parts go to the multipart upload, the rest to a tail.
			wantOpen := []string{"uploads/" + id + "/marker"}
			if tc.partial >= MinPartSize {
				wantOpen = append(wantOpen, "multipart upload of data/"+id)
			}
			if tc.partial%MinPartSize != 0 {
				wantOpen = append(wantOpen, "uploads/"+id+"/tail-*")
			}
			slices.Sort(wantOpen)
			if diff := cmp.Diff(wantOpen, maskTails(bucketContents(t, s))); diff != "" {
				t.Errorf("bucket during the upload (-want +got):\n%s", diff)
			}

			writeAll(t, w, data[tc.partial:], 64<<10)
			dgst := digest.FromBytes(data)
			if _, err := w.Commit(ctx, dgst, int64(len(data))); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			want := []string{indexKeyRel(dgst), "data/" + id}
			slices.Sort(want)
			if diff := cmp.Diff(want, bucketContents(t, s)); diff != "" {
				t.Errorf("bucket after Commit (-want +got):\n%s", diff)
			}
			for _, k := range rawKeys(t, b) {
				if !strings.HasPrefix(k, s.keys.prefix) {
					t.Errorf("key %q lies outside prefix %q", k, tc.prefix)
				}
			}
			checkIndex(t, s, dgst, id, int64(len(data)))
			checkContent(t, s, dgst, data)
		})
	}
}

// maskTails replaces the random part of tail names with "*".
func maskTails(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if j := strings.LastIndex(k, "/"+tailPrefix); j >= 0 {
			k = k[:j+1+len(tailPrefix)] + "*"
		}
		out[i] = k
	}
	return out
}

// checkIndex checks the index object of dgst: empty, naming upload id's
// data object and size, and that data object's size.
func checkIndex(t *testing.T, s *Store, dgst digest.Digest, id string, size int64) {
	t.Helper()
	ctx := context.Background()
	key, _ := s.keys.index(dgst)
	oi, err := s.core.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("stat index: %v", err)
	}
	got := map[string]string{
		"size":     strconv.FormatInt(oi.Size, 10),
		metaData:   oi.Metadata.Get("X-Amz-Meta-" + metaData),
		metaSize:   oi.Metadata.Get("X-Amz-Meta-" + metaSize),
		"encoding": oi.Metadata.Get("Content-Encoding"),
	}
	want := map[string]string{"size": "0", metaData: "data/" + id, metaSize: strconv.FormatInt(size, 10), "encoding": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index object of %s (-want +got):\n%s", dgst, diff)
	}
	n, err := s.dataSize(ctx, s.keys.data(id))
	if err != nil || n != size {
		t.Errorf("data object of %s: size %d, %v; want %d", dgst, n, err, size)
	}
}
