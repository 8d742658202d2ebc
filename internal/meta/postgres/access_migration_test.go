package postgres

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/pgtest"
	"github.com/jackc/pgx/v5/stdlib"
)

// TestAccessMigrationCreatesProjects: a registry upgraded from before
// access control gets a private, system-created project for the first path
// component of every repository, dated by its oldest repository.
func TestAccessMigrationCreatesProjects(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	pool := rawPool(t, url)
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
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
		if _, err := pool.Exec(ctx, `INSERT INTO repositories (name, created_at) VALUES ($1, $2)`,
			r.name, r.created); err != nil {
			t.Fatal(err)
		}
	}

	s := openTest(t, url, Options{}) // migrates to the newest version
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
