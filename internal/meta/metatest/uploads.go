package metatest

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func uploadTests() []test {
	return []test{
		{"CreateGet", testCreateUpload},
		{"CreateDuplicate", testCreateUploadDuplicate},
		{"Update", testUpdateUpload},
		{"Delete", testDeleteUpload},
		{"ListExpired", testListExpiredUploads},
	}
}

func newUpload(repoID int64, id string, expires time.Time) *meta.Upload {
	return &meta.Upload{
		ID:           id,
		RepositoryID: repoID,
		Offset:       0,
		State:        []byte("state of " + id),
		StartedAt:    baseTime,
		UpdatedAt:    baseTime,
		ExpiresAt:    expires,
	}
}

func mustCreateUpload(t *testing.T, s meta.Store, u *meta.Upload) {
	t.Helper()
	if err := s.CreateUpload(t.Context(), u); err != nil {
		t.Fatalf("CreateUpload(%s): %v", u.ID, err)
	}
}

func testCreateUpload(t *testing.T, s meta.Store) {
	r := mustRepo(t, s, "repo")
	u := newUpload(r.ID, "3f1c0b1e-upload", at(time.Hour))
	u.Offset = 42
	u.State = []byte{0, 1, 2, 0xff, 0}
	mustCreateUpload(t, s, u)
	got, err := s.GetUpload(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("GetUpload: %v", err)
	}
	diff(t, "GetUpload", u, got)
	for name, tm := range map[string]time.Time{"StartedAt": got.StartedAt, "UpdatedAt": got.UpdatedAt, "ExpiresAt": got.ExpiresAt} {
		wantUTC(t, name, tm)
	}
	_, err = s.GetUpload(t.Context(), "absent")
	wantErr(t, "GetUpload(absent)", err, errdefs.ErrNotFound)
}

func testCreateUploadDuplicate(t *testing.T, s meta.Store) {
	r := mustRepo(t, s, "repo")
	u := newUpload(r.ID, "dup", at(time.Hour))
	mustCreateUpload(t, s, u)
	again := newUpload(r.ID, "dup", at(2*time.Hour))
	again.Offset = 7
	wantErr(t, "CreateUpload(duplicate id)", s.CreateUpload(t.Context(), again), errdefs.ErrAlreadyExists)
	got, err := s.GetUpload(t.Context(), "dup")
	if err != nil {
		t.Fatalf("GetUpload: %v", err)
	}
	diff(t, "GetUpload keeps the first session", u, got)
}

func testUpdateUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	u := newUpload(r.ID, "u", at(time.Hour))
	mustCreateUpload(t, s, u)

	next := *u
	next.Offset = 1 << 20
	next.State = []byte("state at 1 MiB")
	next.UpdatedAt = at(time.Minute)
	next.ExpiresAt = at(2 * time.Hour)
	if err := s.UpdateUpload(ctx, &next, 0); err != nil {
		t.Fatalf("UpdateUpload: %v", err)
	}
	got, err := s.GetUpload(ctx, u.ID)
	if err != nil {
		t.Fatalf("GetUpload: %v", err)
	}
	diff(t, "GetUpload after update", &next, got)

	stale := next
	stale.Offset = 2 << 20
	stale.State = []byte("lost race")
	tests := []struct {
		name       string
		u          meta.Upload
		fromOffset int64
		want       error
	}{
		{"stale offset", stale, 0, errdefs.ErrConflict},
		{"offset ahead", stale, 2 << 20, errdefs.ErrConflict},
		{"missing session", meta.Upload{ID: "absent", RepositoryID: r.ID, ExpiresAt: at(time.Hour)}, 0, errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "UpdateUpload", s.UpdateUpload(t.Context(), &tc.u, tc.fromOffset), tc.want)
			got, err := s.GetUpload(t.Context(), u.ID)
			if err != nil {
				t.Fatalf("GetUpload: %v", err)
			}
			diff(t, "GetUpload after the refused update", &next, got)
		})
	}
}

func testDeleteUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "repo")
	mustCreateUpload(t, s, newUpload(r.ID, "gone", at(time.Hour)))
	mustCreateUpload(t, s, newUpload(r.ID, "kept", at(time.Hour)))
	if err := s.DeleteUpload(ctx, "gone"); err != nil {
		t.Fatalf("DeleteUpload: %v", err)
	}
	_, err := s.GetUpload(ctx, "gone")
	wantErr(t, "GetUpload after delete", err, errdefs.ErrNotFound)
	wantErr(t, "DeleteUpload again", s.DeleteUpload(ctx, "gone"), errdefs.ErrNotFound)
	if _, err := s.GetUpload(ctx, "kept"); err != nil {
		t.Errorf("GetUpload of the other session: %v", err)
	}
}

func testListExpiredUploads(t *testing.T, s meta.Store) {
	r := mustRepo(t, s, "repo")
	// Created out of expiry order; "d" expires exactly at the cut.
	expiries := map[string]time.Duration{"a": 3, "b": 1, "c": 2, "d": 4, "e": 5, "f": 0}
	byName := map[string]*meta.Upload{}
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		u := newUpload(r.ID, id, at(expiries[id]*time.Minute))
		mustCreateUpload(t, s, u)
		byName[id] = u
	}
	cut := at(4 * time.Minute)
	tests := []struct {
		limit int
		want  []string
	}{
		{10, []string{"f", "b", "c", "a"}},
		{4, []string{"f", "b", "c", "a"}},
		{2, []string{"f", "b"}},
		{1, []string{"f"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit=%d", tc.limit), func(t *testing.T) {
			got, err := s.ListExpiredUploads(t.Context(), cut, tc.limit)
			if err != nil {
				t.Fatalf("ListExpiredUploads: %v", err)
			}
			var want []meta.Upload
			for _, id := range tc.want {
				want = append(want, *byName[id])
			}
			diff(t, "ListExpiredUploads", want, got)
		})
	}
	none, err := s.ListExpiredUploads(t.Context(), at(0), 10)
	if err != nil {
		t.Fatalf("ListExpiredUploads: %v", err)
	}
	diff(t, "ListExpiredUploads before any expiry", []meta.Upload(nil), none, cmpopts.EquateEmpty())
}
