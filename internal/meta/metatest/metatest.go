// Package metatest is the conformance suite of meta.Store: every metadata
// backend runs Run (and RunBenchmarks) with a constructor of fresh stores.
//
// The suite tests the contract written in package meta, never the
// specifics of one backend. Where the contract leaves a detail open the
// suite does not test it either; where a test pins down a reading of the
// contract (duplicates in MissingLinks, the digest order of parents), the
// test says so.
package metatest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// A test is one behaviour, run on a fresh store.
type test struct {
	name string
	fn   func(t *testing.T, s meta.Store)
}

// Run runs one subtest per behaviour of the meta.Store contract, each on a
// fresh store from newStore. newStore must return an empty, migrated store
// and arrange (with t.Cleanup) to close and remove it.
func Run(t *testing.T, newStore func(t *testing.T) meta.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Repositories", repositoryTests()},
		{"Blobs", blobTests()},
		{"Manifests", manifestTests()},
		{"Referrers", referrerTests()},
		{"Tags", tagTests()},
		{"Uploads", uploadTests()},
		{"Tx", txTests()},
		{"Store", storeTests()},
		{"Users", userTests()},
		{"Projects", projectTests()},
		{"Robots", robotTests()},
		{"SigningKeys", signingKeyTests()},
		{"Audit", auditTests()},
		{"AccessTx", accessTxTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, newStore(t))
				})
			}
		})
	}
}

// baseTime has microsecond precision, the least every backend keeps.
var baseTime = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)

// at returns baseTime plus d.
func at(d time.Duration) time.Time { return baseTime.Add(d) }

// testDigest returns a digest that stands for a blob or manifest named s.
func testDigest(s string) digest.Digest { return digest.FromString(s) }

// mustRepo ensures repository name.
func mustRepo(t testing.TB, q meta.Querier, name string) *meta.Repository {
	t.Helper()
	r, err := q.EnsureRepository(context.Background(), name)
	if err != nil {
		t.Fatalf("EnsureRepository(%q): %v", name, err)
	}
	return r
}

// newManifest builds an image manifest of repoID whose content (and so
// digest) depends on seed.
func newManifest(repoID int64, seed string) *meta.Manifest {
	content := fmt.Appendf(nil, `{"schemaVersion":2,`+
		`"mediaType":"application/vnd.oci.image.manifest.v1+json","seed":%q}`, seed)
	return &meta.Manifest{
		RepositoryID: repoID,
		Digest:       digest.FromBytes(content),
		MediaType:    "application/vnd.oci.image.manifest.v1+json",
		ArtifactType: "application/vnd.oci.image.config.v1+json",
		ConfigDigest: testDigest("config of " + seed),
		Size:         int64(len(content)),
		Content:      content,
		PushedAt:     baseTime,
		PushedBy:     "alice",
	}
}

// mustPutManifest stores m with refs.
func mustPutManifest(t testing.TB, q meta.Querier, m *meta.Manifest, refs ...meta.Reference) {
	t.Helper()
	if err := q.PutManifest(context.Background(), m, refs); err != nil {
		t.Fatalf("PutManifest(%s): %v", m.Digest, err)
	}
}

// mustPutTag points tag name at dgst.
func mustPutTag(t testing.TB, q meta.Querier, repoID int64, name string, dgst digest.Digest) {
	t.Helper()
	if _, err := q.PutTag(context.Background(), repoID, name, dgst); err != nil {
		t.Fatalf("PutTag(%q, %s): %v", name, dgst, err)
	}
}

// mustPutBlob records a blob of the given name and size.
func mustPutBlob(t testing.TB, q meta.Querier, name string, size int64) digest.Digest {
	t.Helper()
	d := testDigest(name)
	if err := q.PutBlob(context.Background(), meta.Blob{Digest: d, Size: size, CreatedAt: baseTime}); err != nil {
		t.Fatalf("PutBlob(%s): %v", d, err)
	}
	return d
}

// wantErr fails the test unless err is of class want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error = %v, want class %q", what, err, want)
	}
}

// wantUTC fails the test unless tm is in time.UTC.
func wantUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Errorf("%s: location = %v, want UTC", what, tm.Location())
	}
}

// diff fails the test with a -want +got diff if want and got differ.
func diff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// walk collects every page of a byte-ordered name listing with the given
// page size, failing on a page that is too long or does not advance.
func walk(t *testing.T, limit int, list func(after string, limit int) ([]string, error)) []string {
	t.Helper()
	var all []string
	after := ""
	for range 100000 {
		page, err := list(after, limit)
		if err != nil {
			t.Fatalf("list after %q: %v", after, err)
		}
		if len(page) > limit {
			t.Fatalf("list after %q limit %d: got %d names", after, limit, len(page))
		}
		if len(page) == 0 {
			return all
		}
		if page[0] <= after {
			t.Fatalf("list after %q returned %q first", after, page[0])
		}
		all = append(all, page...)
		after = page[len(page)-1]
	}
	t.Fatal("listing did not end")
	return nil
}
