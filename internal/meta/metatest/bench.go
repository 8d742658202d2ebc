package metatest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// benchConcurrency is the number of goroutines the parallel read
// benchmarks aim for: a registry serving manifest HEAD/GET by tag to 64
// clients at once.
const benchConcurrency = 64

// RunBenchmarks measures the hot paths of a meta.Store: manifest by tag
// (16 and 5,000 tags in the repository), linked blob lookup, a page of 100
// tags out of 5,000, moving a tag and the blob commit transaction, the
// reads also from 64 goroutines at once. newStore is called once and must
// return an empty, migrated store that it closes with b.Cleanup.
func RunBenchmarks(b *testing.B, newStore func(b *testing.B) meta.Store) {
	s := newStore(b)
	small := benchRepo(b, s, "bench/small", 16)
	large := benchRepo(b, s, "bench/large", 5000)

	for _, r := range []benchFixture{small, large} {
		b.Run(fmt.Sprintf("GetTaggedManifest/tags=%d", len(r.tags)), func(b *testing.B) {
			benchGetTagged(b, s, r)
		})
		b.Run(fmt.Sprintf("GetTaggedManifestParallel/tags=%d", len(r.tags)), func(b *testing.B) {
			parallel(b, func(i int) error {
				_, err := s.GetTaggedManifest(context.Background(), r.repoID, r.tags[i%len(r.tags)], true)
				return err
			})
		})
	}
	b.Run("GetLinkedBlob", func(b *testing.B) {
		benchSerial(b, func(i int) error {
			_, err := s.GetLinkedBlob(context.Background(), large.repoID, large.blobs[i%len(large.blobs)])
			return err
		})
	})
	b.Run("GetLinkedBlobParallel", func(b *testing.B) {
		parallel(b, func(i int) error {
			_, err := s.GetLinkedBlob(context.Background(), large.repoID, large.blobs[i%len(large.blobs)])
			return err
		})
	})
	b.Run("ListTags/page=100,tags=5000", func(b *testing.B) {
		benchSerial(b, func(i int) error { return listPage(s, large, i) })
	})
	b.Run("ListTagsParallel/page=100,tags=5000", func(b *testing.B) {
		parallel(b, func(i int) error { return listPage(s, large, i) })
	})
	b.Run("PutTag", func(b *testing.B) { benchPutTag(b, s, small) })
	b.Run("BlobCommit", func(b *testing.B) {
		var n atomic.Int64
		benchSerial(b, func(int) error { return blobCommit(s, small.repoID, n.Add(1)) })
	})
	b.Run("BlobCommitParallel", func(b *testing.B) {
		var n atomic.Int64
		n.Store(1 << 40) // distinct from the serial run's digests
		parallel(b, func(int) error { return blobCommit(s, small.repoID, n.Add(1)) })
	})
}

// benchFixture is a repository whose every tag names its own manifest,
// each manifest referencing a linked blob.
type benchFixture struct {
	repoID int64
	tags   []string
	blobs  []digest.Digest
}

// benchManifestContent is about the size of a real image manifest
// (config and a handful of layers, some annotations).
func benchManifestContent(seed string) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":7023},"layers":[`,
		testDigest("config "+seed))
	for i := range 6 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}`,
			testDigest(fmt.Sprintf("layer %d %s", i, seed)), 1000000+i)
	}
	fmt.Fprintf(&sb, `],"annotations":{"org.opencontainers.image.source":"https://example.com/%s",`+
		`"org.opencontainers.image.created":"2026-05-06T07:08:09Z"}}`, seed)
	return []byte(sb.String())
}

func benchRepo(b *testing.B, s meta.Store, name string, tags int) benchFixture {
	b.Helper()
	ctx := context.Background()
	f := benchFixture{}
	err := s.WithTx(ctx, func(tx meta.Querier) error {
		r, err := tx.EnsureRepository(ctx, name)
		if err != nil {
			return err
		}
		f.repoID = r.ID
		for i := range tags {
			tag := fmt.Sprintf("v1.%d.%d", i/100, i%100)
			content := benchManifestContent(name + tag)
			layer := testDigest("layer of " + name + tag)
			if err := tx.PutBlob(ctx, meta.Blob{Digest: layer, Size: 1 << 20}); err != nil {
				return err
			}
			if err := tx.LinkBlob(ctx, r.ID, layer); err != nil {
				return err
			}
			m := &meta.Manifest{RepositoryID: r.ID, Digest: digest.FromBytes(content),
				MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(content)),
				ArtifactType: "application/vnd.oci.image.config.v1+json", Content: content,
				Annotations: map[string]string{"org.opencontainers.image.source": "https://example.com"}}
			if err := tx.PutManifest(ctx, m, []meta.Reference{{Digest: layer, Kind: meta.RefBlob, Size: 1 << 20}}); err != nil {
				return err
			}
			if _, err := tx.PutTag(ctx, r.ID, tag, m.Digest); err != nil {
				return err
			}
			f.tags = append(f.tags, tag)
			f.blobs = append(f.blobs, layer)
		}
		return nil
	})
	if err != nil {
		b.Fatalf("fixture %s: %v", name, err)
	}
	slices.Sort(f.tags) // listPage walks them in byte order
	return f
}

func benchGetTagged(b *testing.B, s meta.Store, f benchFixture) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m, err := s.GetTaggedManifest(ctx, f.repoID, f.tags[i%len(f.tags)], true)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Content) == 0 {
			b.Fatal("no content")
		}
		i++
	}
}

// benchSerial runs op with a growing counter.
func benchSerial(b *testing.B, op func(i int) error) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// parallel runs op from about benchConcurrency goroutines.
func parallel(b *testing.B, op func(i int) error) {
	b.ReportAllocs()
	b.SetParallelism(max(1, benchConcurrency/runtime.GOMAXPROCS(0)))
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919)) // start goroutines at different keys
		for pb.Next() {
			if err := op(i); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// listPage reads the page of 100 tags after the i-th page boundary.
func listPage(s meta.Store, f benchFixture, i int) error {
	start := (i * 100) % (len(f.tags) - 100)
	after := ""
	if start > 0 {
		after = f.tags[start-1]
	}
	page, err := s.ListTags(context.Background(), f.repoID, after, 100)
	if err != nil {
		return err
	}
	if len(page) != 100 {
		return fmt.Errorf("page after %q has %d tags", after, len(page))
	}
	return nil
}

// benchPutTag moves one tag back and forth between two manifests: every
// operation is a committed change with a history row.
func benchPutTag(b *testing.B, s meta.Store, f benchFixture) {
	ctx := context.Background()
	targets := make([]digest.Digest, 2)
	for i, tag := range f.tags[:2] {
		t, err := s.GetTag(ctx, f.repoID, tag)
		if err != nil {
			b.Fatal(err)
		}
		targets[i] = t.Digest
	}
	benchSerial(b, func(i int) error {
		_, err := s.PutTag(ctx, f.repoID, "moving", targets[i%2])
		return err
	})
}

// blobCommit is what the registry does when an upload completes: record
// the blob, link it to the repository and lease it until a manifest names
// it, in one transaction.
func blobCommit(s meta.Store, repoID int64, n int64) error {
	ctx := context.Background()
	d := testDigest(fmt.Sprintf("uploaded blob %d", n))
	return s.WithTx(ctx, func(tx meta.Querier) error {
		if err := tx.PutBlob(ctx, meta.Blob{Digest: d, Size: 4096}); err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, repoID, d); err != nil {
			return err
		}
		return tx.LeaseBlob(ctx, d, time.Now().Add(time.Hour))
	})
}
