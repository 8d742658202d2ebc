package metatest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
)

func tagTests() []test {
	return []test{
		{"PutMoveSame", testPutTag},
		{"History", testTagHistory},
		{"Delete", testDeleteTag},
		{"NeedsStoredManifest", testTagNeedsManifest},
		{"ListByteOrder", testListTagsByteOrder},
		{"ListManyPages", testListManyTags},
		{"ListTagsOf", testListTagsOf},
		{"RepositoriesAreSeparate", testTagsPerRepository},
	}
}

// tagFixture is a repository holding manifests v1, v2 and v3.
type tagFixture struct {
	repo       *meta.Repository
	v1, v2, v3 digest.Digest
}

func newTagFixture(t *testing.T, s meta.Store) tagFixture {
	t.Helper()
	f := tagFixture{repo: mustRepo(t, s, "repo")}
	for _, p := range []struct {
		seed string
		d    *digest.Digest
	}{{"v1", &f.v1}, {"v2", &f.v2}, {"v3", &f.v3}} {
		m := newManifest(f.repo.ID, p.seed)
		mustPutManifest(t, s, m)
		*p.d = m.Digest
	}
	return f
}

func testPutTag(t *testing.T, s meta.Store) {
	ctx := t.Context()
	f := newTagFixture(t, s)
	steps := []struct {
		name     string
		dgst     digest.Digest
		previous digest.Digest
	}{
		{"new", f.v1, ""},
		{"move", f.v2, f.v1},
		{"same digest", f.v2, f.v2},
		{"move again", f.v3, f.v2},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			prev, err := s.PutTag(ctx, f.repo.ID, "latest", st.dgst)
			if err != nil {
				t.Fatalf("PutTag: %v", err)
			}
			if prev != st.previous {
				t.Errorf("PutTag returned previous %q, want %q", prev, st.previous)
			}
			got, err := s.GetTag(ctx, f.repo.ID, "latest")
			if err != nil {
				t.Fatalf("GetTag: %v", err)
			}
			want := &meta.Tag{RepositoryID: f.repo.ID, Name: "latest", Digest: st.dgst}
			diff(t, "GetTag", want, got, cmpopts.IgnoreFields(meta.Tag{}, "UpdatedAt"))
			if got.UpdatedAt.IsZero() {
				t.Error("GetTag: UpdatedAt is zero")
			}
			wantUTC(t, "UpdatedAt", got.UpdatedAt)
		})
	}
	_, err := s.GetTag(ctx, f.repo.ID, "absent")
	wantErr(t, "GetTag(absent)", err, errdefs.ErrNotFound)
}

// eventsOf strips the times from a history, which the store sets.
func eventsOf(t *testing.T, evs []meta.TagEvent) []meta.TagEvent {
	t.Helper()
	out := make([]meta.TagEvent, len(evs))
	for i, ev := range evs {
		if ev.At.IsZero() {
			t.Errorf("event %d has no time", i)
		}
		wantUTC(t, "TagEvent.At", ev.At)
		if i > 0 && ev.At.After(evs[i-1].At) {
			t.Errorf("event %d (%v) is newer than event %d (%v)", i, ev.At, i-1, evs[i-1].At)
		}
		ev.At = baseTime
		out[i] = ev
	}
	return out
}

func testTagHistory(t *testing.T, s meta.Store) {
	ctx := t.Context()
	f := newTagFixture(t, s)
	for _, d := range []digest.Digest{f.v1, f.v2, f.v2, f.v3} {
		mustPutTag(t, s, f.repo.ID, "latest", d)
	}
	mustPutTag(t, s, f.repo.ID, "other", f.v1)
	ev := func(d, prev digest.Digest) meta.TagEvent {
		return meta.TagEvent{Tag: "latest", Digest: d, Previous: prev, At: baseTime}
	}
	all := []meta.TagEvent{ev(f.v3, f.v2), ev(f.v2, f.v1), ev(f.v1, "")}
	tests := []struct {
		limit int
		want  []meta.TagEvent
	}{
		{10, all},
		{3, all},
		{2, all[:2]},
		{1, all[:1]},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit=%d", tc.limit), func(t *testing.T) {
			got, err := s.TagHistory(ctx, f.repo.ID, "latest", tc.limit)
			if err != nil {
				t.Fatalf("TagHistory: %v", err)
			}
			diff(t, "TagHistory", tc.want, eventsOf(t, got))
		})
	}
	none, err := s.TagHistory(ctx, f.repo.ID, "never", 10)
	if err != nil || len(none) != 0 {
		t.Errorf("TagHistory(never set) = %v, %v; want none", none, err)
	}
}

func testDeleteTag(t *testing.T, s meta.Store) {
	ctx := t.Context()
	f := newTagFixture(t, s)
	mustPutTag(t, s, f.repo.ID, "latest", f.v1)
	mustPutTag(t, s, f.repo.ID, "stable", f.v1)
	got, err := s.DeleteTag(ctx, f.repo.ID, "latest")
	if err != nil {
		t.Fatalf("DeleteTag: %v", err)
	}
	if got != f.v1 {
		t.Errorf("DeleteTag returned %q, want %q", got, f.v1)
	}
	_, err = s.GetTag(ctx, f.repo.ID, "latest")
	wantErr(t, "GetTag after delete", err, errdefs.ErrNotFound)
	_, err = s.DeleteTag(ctx, f.repo.ID, "latest")
	wantErr(t, "DeleteTag again", err, errdefs.ErrNotFound)
	if _, err := s.GetTag(ctx, f.repo.ID, "stable"); err != nil {
		t.Errorf("GetTag of the other tag: %v", err)
	}
	if _, err := s.GetManifest(ctx, f.repo.ID, f.v1, false); err != nil {
		t.Errorf("GetManifest after deleting a tag: %v", err)
	}
	hist, err := s.TagHistory(ctx, f.repo.ID, "latest", 10)
	if err != nil {
		t.Fatalf("TagHistory: %v", err)
	}
	want := []meta.TagEvent{
		{Tag: "latest", Digest: "", Previous: f.v1, At: baseTime},
		{Tag: "latest", Digest: f.v1, Previous: "", At: baseTime},
	}
	diff(t, "TagHistory after delete", want, eventsOf(t, hist))

	// A deleted tag can be set again, as new.
	prev, err := s.PutTag(ctx, f.repo.ID, "latest", f.v2)
	if err != nil || prev != "" {
		t.Errorf("PutTag after delete = %q, %v; want \"\", nil", prev, err)
	}
}

// testTagNeedsManifest: a tag must never point at nothing.
func testTagNeedsManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	f := newTagFixture(t, s)
	other := mustRepo(t, s, "other")
	foreign := newManifest(other.ID, "foreign")
	mustPutManifest(t, s, foreign)
	tests := []struct {
		name string
		dgst digest.Digest
	}{
		{"never stored", testDigest("absent")},
		{"stored in another repository", foreign.Digest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.PutTag(ctx, f.repo.ID, "new", tc.dgst); err == nil {
				t.Error("PutTag of a new tag succeeded")
			}
			_, err := s.GetTag(ctx, f.repo.ID, "new")
			wantErr(t, "GetTag after the failed put", err, errdefs.ErrNotFound)

			mustPutTag(t, s, f.repo.ID, "moved", f.v1)
			if _, err := s.PutTag(ctx, f.repo.ID, "moved", tc.dgst); err == nil {
				t.Error("PutTag moving a tag succeeded")
			}
			got, err := s.GetTag(ctx, f.repo.ID, "moved")
			if err != nil || got.Digest != f.v1 {
				t.Errorf("GetTag after the failed move = %+v, %v; want it still at %s", got, err, f.v1)
			}
			hist, err := s.TagHistory(ctx, f.repo.ID, "new", 10)
			if err != nil || len(hist) != 0 {
				t.Errorf("TagHistory of the failed tag = %v, %v; want none", hist, err)
			}
		})
	}
}

// tagNames sort differently byte-wise than in most locales or numerically.
var tagNames = []string{
	"latest", "Latest", "v1", "V1", "v1.0", "v1-0", "v1_0", "v10", "v2", "1.0", "_x", "a", "A", "z",
}

// putTags tags manifest m of repo with every name, in one transaction.
func putTags(t testing.TB, s meta.Store, repoID int64, dgst digest.Digest, names []string) {
	t.Helper()
	err := s.WithTx(t.Context(), func(tx meta.Querier) error {
		for _, n := range names {
			if _, err := tx.PutTag(t.Context(), repoID, n, dgst); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("putting %d tags: %v", len(names), err)
	}
}

func testListTagsByteOrder(t *testing.T, s meta.Store) {
	f := newTagFixture(t, s)
	putTags(t, s, f.repo.ID, f.v1, tagNames)
	want := slices.Sorted(slices.Values(tagNames))
	list := func(after string, limit int) ([]string, error) {
		return s.ListTags(t.Context(), f.repo.ID, after, limit)
	}
	for _, limit := range []int{1, 2, 5, len(want), 100} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			diff(t, "all pages", want, walk(t, limit, list))
		})
	}
	got, err := s.ListTags(t.Context(), f.repo.ID, "v1-", 3)
	if err != nil {
		t.Fatalf("ListTags: %v", err)
	}
	diff(t, "ListTags after a name that is no tag", []string{"v1-0", "v1.0", "v10"}, got)
}

func testListManyTags(t *testing.T, s meta.Store) {
	f := newTagFixture(t, s)
	names := make([]string, 1234)
	for i := range names {
		names[i] = fmt.Sprintf("t%d", i) // byte order is not numeric order
	}
	putTags(t, s, f.repo.ID, f.v1, names)
	want := slices.Sorted(slices.Values(names))
	list := func(after string, limit int) ([]string, error) {
		return s.ListTags(t.Context(), f.repo.ID, after, limit)
	}
	for _, limit := range []int{100, 999, 1000, 5000} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			diff(t, "all pages", want, walk(t, limit, list))
		})
	}
}

func testListTagsOf(t *testing.T, s meta.Store) {
	f := newTagFixture(t, s)
	putTags(t, s, f.repo.ID, f.v1, []string{"latest", "1.0", "stable"})
	putTags(t, s, f.repo.ID, f.v2, []string{"2.0"})
	tests := []struct {
		name string
		dgst digest.Digest
		want []string
	}{
		{"three tags", f.v1, []string{"1.0", "latest", "stable"}},
		{"one tag", f.v2, []string{"2.0"}},
		{"untagged", f.v3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListTagsOf(t.Context(), f.repo.ID, tc.dgst)
			if err != nil {
				t.Fatalf("ListTagsOf: %v", err)
			}
			slices.Sort(got) // the contract leaves the order open
			diff(t, "ListTagsOf", tc.want, got, cmpopts.EquateEmpty())
		})
	}
}

func testTagsPerRepository(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a, b := mustRepo(t, s, "a"), mustRepo(t, s, "b")
	ma, mb := newManifest(a.ID, "a"), newManifest(b.ID, "b")
	mustPutManifest(t, s, ma)
	mustPutManifest(t, s, mb)
	mustPutTag(t, s, a.ID, "latest", ma.Digest)
	mustPutTag(t, s, b.ID, "latest", mb.Digest)
	mustPutTag(t, s, b.ID, "only-b", mb.Digest)
	got, err := s.ListTags(ctx, a.ID, "", 10)
	if err != nil {
		t.Fatalf("ListTags(a): %v", err)
	}
	diff(t, "ListTags(a)", []string{"latest"}, got)
	if _, err := s.DeleteTag(ctx, a.ID, "latest"); err != nil {
		t.Fatalf("DeleteTag(a): %v", err)
	}
	tag, err := s.GetTag(ctx, b.ID, "latest")
	if err != nil || tag.Digest != mb.Digest {
		t.Errorf("GetTag(b) after deleting a's tag = %+v, %v", tag, err)
	}
	hist, err := s.TagHistory(ctx, b.ID, "latest", 10)
	if err != nil || len(hist) != 1 {
		t.Errorf("TagHistory(b) = %v, %v; want one event", hist, err)
	}
}
