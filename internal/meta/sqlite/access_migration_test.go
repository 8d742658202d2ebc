package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// TestAccessMigrationCreatesProjects: a registry upgraded from before
// access control gets a private, system-created project for the first path
// component of every repository, dated by its oldest repository.
func TestAccessMigrationCreatesProjects(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "berth.db")
	db := rawDB(t, path)
	p, err := newProvider(db, migrationsFS(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	old, young := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	repos := []struct {
		name    string
		created time.Time
	}{
		{"platform/api/backend", young},
		{"platform/web", old},
		{"solo", young},
		{"team-b/tool", young},
	}
	for _, r := range repos {
		if _, err := db.ExecContext(ctx, `INSERT INTO repositories (name, created_at) VALUES (?, ?)`,
			r.name, r.created.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("Open (migrating to the newest version): %v", err)
	}
	defer s.Close()
	got, err := s.ListProjects(ctx, "", 0)
	if err != nil {
		t.Fatalf("ListProjects: %v", err)
	}
	for i := range got {
		got[i].ID = 0
	}
	want := []meta.Project{
		{Name: "platform", CreatedAt: old},
		{Name: "solo", CreatedAt: young},
		{Name: "team-b", CreatedAt: young},
	}
	diff(t, "projects after migration", want, got)
}
