package registry

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

// TestCheckQuotaTx tests the entry point promotion uses inside its own
// transaction.
func TestCheckQuotaTx(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	m, err := sqlite.Open(ctx, filepath.Join(dir, "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := filesystem.New(filepath.Join(dir, "blobs"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CreateProject(ctx, &meta.Project{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := m.PutQuota(ctx, &meta.Quota{Project: "p", LimitBytes: 100, ArtifactLimit: 1}); err != nil {
		t.Fatal(err)
	}
	s := New(m, b, Options{})
	tests := []struct {
		name       string
		project    string
		stored     int64
		artifacts  int
		wantDenied bool
	}{
		{"at the byte limit", "p", 100, 0, false},
		{"over the byte limit", "p", 101, 0, true},
		{"at the artifact limit", "p", 0, 1, false},
		{"over the artifact limit", "p", 10, 2, true},
		{"no quota", "other", 1 << 40, 100, false},
		{"no project", "", 1 << 40, 100, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := m.WithTx(ctx, func(tx meta.Querier) error {
				return s.checkQuotaTx(ctx, tx, tc.project, tc.stored, tc.artifacts)
			})
			if errdefs.IsDenied(err) != tc.wantDenied || (err != nil && !errdefs.IsDenied(err)) {
				t.Errorf("checkQuotaTx = %v, want denied %v", err, tc.wantDenied)
			}
		})
	}
}
