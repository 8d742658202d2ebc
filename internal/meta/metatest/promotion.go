package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// RunPromotion runs the conformance tests of meta.PromotionStore and
// meta.PullRecorder on fresh stores from newStore (as Run), which must have
// both abilities (directly or through meta.Unwrapper).
func RunPromotion(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []test{
		{"PutAndList", testPromotionRoundTrip},
		{"ListFilters", testPromotionFilters},
		{"ListPages", testPromotionPages},
		{"PutInsideTx", testPromotionInTx},
		{"TxRollbackKeepsNothing", testPromotionRollback},
		{"TouchTag", testTouchTag},
		{"TouchMissingTag", testTouchMissingTag},
		{"RecordPulls", testRecordPulls},
		{"RecordPullsNeverBackwards", testRecordPullsBackwards},
		{"RecordPullsSkipsMissing", testRecordPullsMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// promotions returns the PromotionStore beneath s or stops the test.
func promotions(t *testing.T, s meta.Store) meta.PromotionStore {
	t.Helper()
	ps, ok := meta.PromotionOf(s)
	if !ok {
		t.Fatalf("%T has no meta.PromotionStore", s)
	}
	return ps
}

// pulls returns the PullRecorder of s or stops the test.
func pulls(t *testing.T, s meta.Store) meta.PullRecorder {
	t.Helper()
	pr, ok := meta.PullRecorderOf(s)
	if !ok {
		t.Fatalf("%T has no meta.PullRecorder", s)
	}
	return pr
}

// newPromotion is a record of seed's digest from src to dst:tag at d past
// baseTime.
func newPromotion(seed, src, dst, tag string, d time.Duration) *meta.Promotion {
	return &meta.Promotion{
		Digest:           testDigest(seed),
		SourceRepository: src + "/app", SourceProject: src, SourceReference: "v1",
		DestinationRepository: dst + "/app", DestinationProject: dst, Tag: tag,
		PromotedBy: "alice", PromotedAt: at(d), Children: 2, Referrers: 1,
	}
}

func mustPutPromotion(t *testing.T, w meta.PromotionWriter, p *meta.Promotion) {
	t.Helper()
	if err := w.PutPromotion(t.Context(), p); err != nil {
		t.Fatalf("PutPromotion(%s): %v", p.Digest, err)
	}
	if p.ID == 0 || p.PromotedAt.IsZero() {
		t.Fatalf("PutPromotion left the ID (%d) or time (%v) unset", p.ID, p.PromotedAt)
	}
}

func listPromotions(t *testing.T, ps meta.PromotionStore, q meta.PromotionQuery) []meta.Promotion {
	t.Helper()
	got, err := ps.ListPromotions(t.Context(), q)
	if err != nil {
		t.Fatalf("ListPromotions(%+v): %v", q, err)
	}
	return got
}

func ids(ps []meta.Promotion) []int64 {
	out := []int64{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func testPromotionRoundTrip(t *testing.T, s meta.Store) {
	ps := promotions(t, s)
	a := newPromotion("a", "staging", "prod", "v1", 0)
	b := newPromotion("b", "staging", "prod", "v2", time.Minute)
	mustPutPromotion(t, ps, a)
	mustPutPromotion(t, ps, b)
	if b.ID <= a.ID {
		t.Errorf("IDs do not grow: %d then %d", a.ID, b.ID)
	}
	got := listPromotions(t, ps, meta.PromotionQuery{})
	diff(t, "promotions, newest first", []meta.Promotion{*b, *a}, got)
	for _, p := range got {
		wantUTC(t, "PromotedAt", p.PromotedAt)
	}
	// A zero time means now.
	c := newPromotion("c", "x", "y", "t", 0)
	c.PromotedAt = time.Time{}
	before := time.Now().Add(-time.Minute)
	mustPutPromotion(t, ps, c)
	if c.PromotedAt.Before(before) {
		t.Errorf("PromotedAt = %v, want about now", c.PromotedAt)
	}
}

func testPromotionFilters(t *testing.T, s meta.Store) {
	ps := promotions(t, s)
	a := newPromotion("a", "staging", "prod", "v1", 0)
	b := newPromotion("b", "dev", "staging", "v1", time.Second)
	c := newPromotion("a", "dev", "qa", "v1", 2*time.Second)
	for _, p := range []*meta.Promotion{a, b, c} {
		mustPutPromotion(t, ps, p)
	}
	tests := []struct {
		name string
		q    meta.PromotionQuery
		want []int64
	}{
		{"by digest", meta.PromotionQuery{Digest: testDigest("a")}, []int64{c.ID, a.ID}},
		{"by destination project", meta.PromotionQuery{Project: "prod"}, []int64{a.ID}},
		{"by source or destination project", meta.PromotionQuery{Project: "staging"}, []int64{b.ID, a.ID}},
		{"digest and project", meta.PromotionQuery{Digest: testDigest("a"), Project: "dev"}, []int64{c.ID}},
		{"no match", meta.PromotionQuery{Digest: testDigest("none")}, []int64{}},
		{"project names are exact", meta.PromotionQuery{Project: "sta"}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diff(t, "IDs", tc.want, ids(listPromotions(t, ps, tc.q)))
		})
	}
}

func testPromotionPages(t *testing.T, s meta.Store) {
	ps := promotions(t, s)
	var want []int64
	for i := range 7 {
		p := newPromotion("a", "staging", "prod", "v1", time.Duration(i)*time.Second)
		mustPutPromotion(t, ps, p)
		want = append([]int64{p.ID}, want...)
	}
	var got []int64
	q := meta.PromotionQuery{Digest: testDigest("a"), Limit: 3}
	for range 10 {
		page := listPromotions(t, ps, q)
		if len(page) > 3 {
			t.Fatalf("page of %d, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, ids(page)...)
		q.Before = page[len(page)-1].ID
	}
	diff(t, "every page, newest first", want, got)
}

func testPromotionInTx(t *testing.T, s meta.Store) {
	ps := promotions(t, s)
	p := newPromotion("a", "staging", "prod", "v1", 0)
	err := ps.WithTx(t.Context(), func(tx meta.Querier) error {
		w, ok := tx.(meta.PromotionWriter)
		if !ok {
			t.Fatalf("the querier of WithTx (%T) is no meta.PromotionWriter", tx)
		}
		return w.PutPromotion(t.Context(), p)
	})
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "promotions", []meta.Promotion{*p}, listPromotions(t, ps, meta.PromotionQuery{}))
}

func testPromotionRollback(t *testing.T, s meta.Store) {
	ps := promotions(t, s)
	stop := errdefs.Conflict("stop")
	err := ps.WithTx(t.Context(), func(tx meta.Querier) error {
		if err := tx.(meta.PromotionWriter).PutPromotion(t.Context(), newPromotion("a", "s", "d", "t", 0)); err != nil {
			return err
		}
		return stop
	})
	wantErr(t, "WithTx", err, errdefs.ErrConflict)
	diff(t, "promotions after rollback", 0, len(listPromotions(t, ps, meta.PromotionQuery{})))
}

func testTouchTag(t *testing.T, s meta.Store) {
	ps := promotions(t, s)
	ctx := t.Context()
	r := mustRepo(t, s, "prod/app")
	m := newManifest(r.ID, "one")
	mustPutManifest(t, s, m)
	mustPutTag(t, s, r.ID, "v1", m.Digest)
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	if err := ps.TouchTag(ctx, r.ID, "v1", later); err != nil {
		t.Fatalf("TouchTag: %v", err)
	}
	tag, err := s.GetTag(ctx, r.ID, "v1")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "tag after touch", meta.Tag{RepositoryID: r.ID, Name: "v1", Digest: m.Digest, UpdatedAt: later}, *tag)
	hist, err := s.TagHistory(ctx, r.ID, "v1", 10)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "history events (a touch records none)", 1, len(hist))

	// Inside a transaction too.
	even := later.Add(time.Hour)
	err = ps.WithTx(ctx, func(tx meta.Querier) error {
		return tx.(meta.PromotionWriter).TouchTag(ctx, r.ID, "v1", even)
	})
	if err != nil {
		t.Fatalf("TouchTag in tx: %v", err)
	}
	if tag, err = s.GetTag(ctx, r.ID, "v1"); err != nil {
		t.Fatal(err)
	}
	diff(t, "UpdatedAt after a touch in a tx", even, tag.UpdatedAt)
}

func testTouchMissingTag(t *testing.T, s meta.Store) {
	ps := promotions(t, s)
	r := mustRepo(t, s, "prod/app")
	wantErr(t, "TouchTag of a missing tag", ps.TouchTag(t.Context(), r.ID, "nope", baseTime), errdefs.ErrNotFound)
}

// lastPulled returns the LastPulledAt of dgst in repoID.
func lastPulled(t *testing.T, s meta.Store, m *meta.Manifest) time.Time {
	t.Helper()
	got, err := s.GetManifest(t.Context(), m.RepositoryID, m.Digest, false)
	if err != nil {
		t.Fatal(err)
	}
	return got.LastPulledAt
}

func testRecordPulls(t *testing.T, s meta.Store) {
	pr := pulls(t, s)
	r := mustRepo(t, s, "prod/app")
	a, b, c := newManifest(r.ID, "a"), newManifest(r.ID, "b"), newManifest(r.ID, "c")
	for _, m := range []*meta.Manifest{a, b, c} {
		mustPutManifest(t, s, m)
	}
	err := pr.RecordPulls(t.Context(), []meta.Pull{
		{RepositoryID: r.ID, Digest: a.Digest, At: at(time.Minute)},
		{RepositoryID: r.ID, Digest: b.Digest, At: at(2 * time.Minute)},
		{RepositoryID: r.ID, Digest: a.Digest, At: at(3 * time.Minute)}, // the later one wins
	})
	if err != nil {
		t.Fatalf("RecordPulls: %v", err)
	}
	diff(t, "a", at(3*time.Minute), lastPulled(t, s, a))
	diff(t, "b", at(2*time.Minute), lastPulled(t, s, b))
	diff(t, "c (never pulled)", time.Time{}, lastPulled(t, s, c), cmpopts.EquateEmpty())
	if err := pr.RecordPulls(t.Context(), nil); err != nil {
		t.Errorf("RecordPulls(nil): %v", err)
	}
}

func testRecordPullsBackwards(t *testing.T, s meta.Store) {
	pr := pulls(t, s)
	r := mustRepo(t, s, "prod/app")
	a := newManifest(r.ID, "a")
	mustPutManifest(t, s, a)
	for _, d := range []time.Duration{time.Hour, time.Minute} {
		if err := pr.RecordPulls(t.Context(), []meta.Pull{{RepositoryID: r.ID, Digest: a.Digest, At: at(d)}}); err != nil {
			t.Fatal(err)
		}
	}
	diff(t, "last pull after an older one", at(time.Hour), lastPulled(t, s, a))
}

func testRecordPullsMissing(t *testing.T, s meta.Store) {
	pr := pulls(t, s)
	r := mustRepo(t, s, "prod/app")
	a := newManifest(r.ID, "a")
	mustPutManifest(t, s, a)
	err := pr.RecordPulls(t.Context(), []meta.Pull{
		{RepositoryID: r.ID, Digest: testDigest("deleted meanwhile"), At: at(time.Minute)},
		{RepositoryID: r.ID + 100, Digest: a.Digest, At: at(time.Minute)},
		{RepositoryID: r.ID, Digest: a.Digest, At: at(2 * time.Minute)},
	})
	if err != nil {
		t.Fatalf("RecordPulls with missing manifests: %v", err)
	}
	diff(t, "a", at(2*time.Minute), lastPulled(t, s, a))
}
