package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/pressly/goose/v3"
)

// migrationFiles holds the numbered up/down migrations of the schema.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationsFS is the migrations directory as goose reads it.
func migrationsFS() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// newProvider returns a goose provider for the migrations in fsys on db.
func newProvider(db *sql.DB, fsys fs.FS, log *slog.Logger) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSlog(log))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// prepareSchema refuses a database newer than the embedded migrations and,
// unless skip, applies the pending ones; then it prepares every statement
// on the writer connection.
func (s *Store) prepareSchema(ctx context.Context, skip bool) error {
	if err := migrate(ctx, s.writer, migrationsFS(), s.log, skip); err != nil {
		return err
	}
	if err := s.wstmts.prepareAll(ctx, statements); err != nil {
		return fmt.Errorf("schema does not match this binary: %w", classify(err))
	}
	return nil
}

// migrate checks the schema version of db against the migrations in fsys
// and applies the pending ones unless skip.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, log *slog.Logger, skip bool) error {
	p, err := newProvider(db, fsys, log)
	if err != nil {
		return err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", classify(err))
	}
	sources := p.ListSources()
	known := sources[len(sources)-1].Version
	if current > known {
		return errdefs.Unsupported("database schema version %d is newer than this binary knows "+
			"(up to %d); run a newer berth or restore a backup taken before the upgrade", current, known)
	}
	if skip {
		if current < known {
			return errdefs.Unsupported("database schema version %d is older than this binary "+
				"needs (%d) and migrations are skipped; migrate the database first", current, known)
		}
		return nil
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate schema from version %d: %w", current, classify(err))
	}
	for _, r := range results {
		log.InfoContext(ctx, "sqlite: applied migration", "file", r.Source.Path,
			"version", r.Source.Version, "duration", r.Duration)
	}
	return nil
}

// Migrate brings the database file at path to the newest schema this
// binary knows (creating it if missing), for a `berth migrate` step.
func Migrate(ctx context.Context, path string, opts Options) error {
	opts.SkipMigrations = false
	s, err := Open(ctx, path, opts)
	if err != nil {
		return err
	}
	return s.Close()
}

// SchemaVersion reports the schema version of the database file at path (0
// if it does not exist or was never migrated) and the newest version this
// binary knows. It changes nothing.
func SchemaVersion(ctx context.Context, path string) (current, latest int64, err error) {
	defer errdefs.Wrapf(&err, "schema version of sqlite metadata store %s", path)
	fsys := migrationsFS()
	entries, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(entries) == 0 {
		return 0, 0, fmt.Errorf("list migrations: %v", err)
	}
	last := entries[len(entries)-1]
	if latest, err = goose.NumericComponent(last); err != nil {
		return 0, 0, fmt.Errorf("migration %s: %w", last, err)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, latest, nil
	}
	db, err := sql.Open("sqlite", dsn(path, 5*time.Second, false))
	if err != nil {
		return 0, 0, classify(err)
	}
	defer db.Close()
	var exists int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`).Scan(&exists); err != nil {
		return 0, 0, classify(err)
	}
	if exists == 0 {
		return 0, latest, nil
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&current); err != nil {
		return 0, 0, classify(err)
	}
	return current, latest, nil
}
