package metatest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func repositoryTests() []test {
	return []test{
		{"EnsureIsIdempotent", testEnsureIdempotent},
		{"EnsureConcurrent", testEnsureConcurrent},
		{"GetMissing", testGetRepositoryMissing},
		{"ListOnlyWithManifests", testListRepositoriesWithManifests},
		{"ListByteOrder", testListRepositoriesByteOrder},
		{"ListPagination", testListRepositoriesPagination},
	}
}

func testEnsureIdempotent(t *testing.T, s meta.Store) {
	ctx := t.Context()
	first := mustRepo(t, s, "platform/api/backend")
	if first.ID == 0 || first.Name != "platform/api/backend" || first.CreatedAt.IsZero() {
		t.Fatalf("EnsureRepository = %+v, want an id, the name and a creation time", first)
	}
	wantUTC(t, "CreatedAt", first.CreatedAt)
	again := mustRepo(t, s, "platform/api/backend")
	diff(t, "second EnsureRepository", first, again)
	got, err := s.GetRepository(ctx, "platform/api/backend")
	if err != nil {
		t.Fatalf("GetRepository: %v", err)
	}
	diff(t, "GetRepository", first, got)
	other := mustRepo(t, s, "platform/api/frontend")
	if other.ID == first.ID {
		t.Errorf("two repositories share id %d", other.ID)
	}
}

func testEnsureConcurrent(t *testing.T, s meta.Store) {
	const workers = 32
	ids := make([]int64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			r, err := s.EnsureRepository(t.Context(), "race/repo")
			errs[i] = err
			if err == nil {
				ids[i] = r.ID
			}
		})
	}
	wg.Wait()
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("worker %d got id %d, worker 0 got %d", i, ids[i], ids[0])
		}
	}
}

func testGetRepositoryMissing(t *testing.T, s meta.Store) {
	mustRepo(t, s, "present")
	_, err := s.GetRepository(t.Context(), "absent")
	wantErr(t, "GetRepository(absent)", err, errdefs.ErrNotFound)
}

func testListRepositoriesWithManifests(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustRepo(t, s, "empty")
	full := mustRepo(t, s, "full")
	mustPutManifest(t, s, newManifest(full.ID, "one"))
	emptied := mustRepo(t, s, "emptied")
	m := newManifest(emptied.ID, "gone")
	mustPutManifest(t, s, m)
	if err := s.DeleteManifest(ctx, emptied.ID, m.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}
	got, err := s.ListRepositories(ctx, "", 100)
	if err != nil {
		t.Fatalf("ListRepositories: %v", err)
	}
	diff(t, "ListRepositories", []string{"full"}, got)
}

// byteOrderNames sort differently byte-wise than in most locales.
var byteOrderNames = []string{
	"a/b", "a-b", "aB", "a_b", "a.b", "a", "A", "B", "b", "a0", "a/b/c", "ab", "Ab", "a~b", "z",
}

// withManifests ensures each name as a repository holding one manifest and
// returns the names in byte order.
func withManifests(t *testing.T, s meta.Store, names []string) []string {
	t.Helper()
	err := s.WithTx(t.Context(), func(tx meta.Querier) error {
		for _, n := range names {
			r := mustRepo(t, tx, n)
			mustPutManifest(t, tx, newManifest(r.ID, n))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted) // Go compares strings byte-wise
	return sorted
}

func testListRepositoriesByteOrder(t *testing.T, s meta.Store) {
	want := withManifests(t, s, byteOrderNames)
	got, err := s.ListRepositories(t.Context(), "", len(want)+10)
	if err != nil {
		t.Fatalf("ListRepositories: %v", err)
	}
	diff(t, "ListRepositories", want, got)
}

func testListRepositoriesPagination(t *testing.T, s meta.Store) {
	want := withManifests(t, s, byteOrderNames)
	list := func(after string, limit int) ([]string, error) {
		return s.ListRepositories(t.Context(), after, limit)
	}
	for _, limit := range []int{1, 2, 3, 7, len(want), len(want) + 1} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			diff(t, "all pages", want, walk(t, limit, list))
		})
	}
	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{after: "a-b", limit: 2, want: []string{"a.b", "a/b"}},
		{after: "a.c", limit: 2, want: []string{"a/b", "a/b/c"}}, // after need not exist
		{after: "z", limit: 5, want: nil},
		{after: "~", limit: 5, want: nil},
		{after: "", limit: 1, want: []string{"A"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("after=%q", tc.after), func(t *testing.T) {
			got, err := s.ListRepositories(t.Context(), tc.after, tc.limit)
			if err != nil {
				t.Fatalf("ListRepositories(%q, %d): %v", tc.after, tc.limit, err)
			}
			diff(t, "ListRepositories", tc.want, got, cmpopts.EquateEmpty())
		})
	}
}
