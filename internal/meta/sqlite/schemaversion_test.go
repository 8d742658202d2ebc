package sqlite

import (
	"path/filepath"
	"testing"
)

func TestSchemaVersionAndMigrate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "berth.db")
	cur, latest, err := SchemaVersion(ctx, path)
	if err != nil || cur != 0 || latest < 1 {
		t.Fatalf("missing file: SchemaVersion = %d, %d, %v; want 0, >=1, nil", cur, latest, err)
	}
	if err := Migrate(ctx, path, Options{Logger: quiet}); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	cur, latest2, err := SchemaVersion(ctx, path)
	if err != nil || cur != latest || latest2 != latest {
		t.Fatalf("after Migrate: SchemaVersion = %d, %d, %v; want %d, %d", cur, latest2, err, latest, latest)
	}
	s, err := Open(ctx, path, Options{Logger: quiet, SkipMigrations: true})
	if err != nil {
		t.Fatalf("Open without migrations after Migrate: %v", err)
	}
	_ = s.Close()
}
