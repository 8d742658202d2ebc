package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

func storeTests() []test {
	return []test{
		{"Stats", testStats},
		{"Ping", testPing},
		{"TimePrecisionAndUTC", testTimes},
	}
}

func testStats(t *testing.T, s meta.Store) {
	ctx := t.Context()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	diff(t, "Stats of an empty store", meta.Stats{}, st)

	a, b := mustRepo(t, s, "a"), mustRepo(t, s, "b")
	for _, r := range []*meta.Repository{a, b} {
		// The same blob linked from both repositories counts once.
		d := mustPutBlob(t, s, "shared", 1000)
		if err := s.LinkBlob(ctx, r.ID, d); err != nil {
			t.Fatalf("LinkBlob: %v", err)
		}
		m := newManifest(r.ID, "m")
		mustPutManifest(t, s, m)
		mustPutTag(t, s, r.ID, "latest", m.Digest)
	}
	mustPutBlob(t, s, "own", 24)
	extra := newManifest(a.ID, "extra")
	mustPutManifest(t, s, extra)
	mustPutTag(t, s, a.ID, "extra", extra.Digest)
	mustPutTag(t, s, a.ID, "extra-2", extra.Digest)
	mustCreateUpload(t, s, newUpload(a.ID, "u1", at(time.Hour)))
	mustCreateUpload(t, s, newUpload(b.ID, "u2", at(time.Hour)))
	mustCreateUpload(t, s, newUpload(b.ID, "u3", at(time.Hour)))

	st, err = s.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	want := meta.Stats{Repositories: 2, Manifests: 3, Tags: 4, Blobs: 2, BlobBytes: 1024, Uploads: 3}
	diff(t, "Stats", want, st)
}

func testPing(t *testing.T, s meta.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// testTimes stores times with microseconds in a non-UTC zone and expects
// them back equal and in UTC.
func testTimes(t *testing.T, s meta.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	tm := time.Date(2031, 12, 31, 23, 59, 58, 999999000, zone)
	r := mustRepo(t, s, "repo")

	d := testDigest("timed blob")
	if err := s.PutBlob(ctx, meta.Blob{Digest: d, Size: 1, CreatedAt: tm}); err != nil {
		t.Fatalf("PutBlob: %v", err)
	}
	b, err := s.GetBlob(ctx, d)
	if err != nil {
		t.Fatalf("GetBlob: %v", err)
	}
	m := newManifest(r.ID, "timed")
	m.PushedAt = tm.Add(time.Microsecond)
	mustPutManifest(t, s, m)
	gotM, err := s.GetManifest(ctx, r.ID, m.Digest, false)
	if err != nil {
		t.Fatalf("GetManifest: %v", err)
	}
	u := &meta.Upload{ID: "timed", RepositoryID: r.ID, StartedAt: tm.Add(2 * time.Microsecond),
		UpdatedAt: tm.Add(3 * time.Microsecond), ExpiresAt: tm.Add(4 * time.Microsecond)}
	mustCreateUpload(t, s, u)
	gotU, err := s.GetUpload(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUpload: %v", err)
	}
	if err := s.LeaseBlob(ctx, d, tm.Add(5*time.Microsecond)); err != nil {
		t.Fatalf("LeaseBlob: %v", err)
	}
	lease, err := s.BlobLease(ctx, d)
	if err != nil {
		t.Fatalf("BlobLease: %v", err)
	}

	tests := []struct {
		name      string
		got, want time.Time
	}{
		{"Blob.CreatedAt", b.CreatedAt, tm},
		{"Manifest.PushedAt", gotM.PushedAt, m.PushedAt},
		{"Upload.StartedAt", gotU.StartedAt, u.StartedAt},
		{"Upload.UpdatedAt", gotU.UpdatedAt, u.UpdatedAt},
		{"Upload.ExpiresAt", gotU.ExpiresAt, u.ExpiresAt},
		{"BlobLease", lease, tm.Add(5 * time.Microsecond)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.got.Equal(tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
			wantUTC(t, tc.name, tc.got)
		})
	}
}
