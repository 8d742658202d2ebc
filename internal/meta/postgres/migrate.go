package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
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

// migrationLockID is the session advisory lock that replicas starting
// together take in turn to migrate: one applies the migrations, the others
// then find nothing to do. ("berth" in ASCII; goose's default id would be
// shared with any other goose user of the database.)
const migrationLockID = 0x6265727468

// newProvider returns a goose provider for the migrations in fsys on db,
// applying them under migrationLockID.
func newProvider(db *sql.DB, fsys fs.FS, log *slog.Logger) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID),
		lock.WithLockTimeout(1, 600)) // wait up to 10 minutes for another replica
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSlog(log), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// latestVersion is the newest schema version in fsys.
func latestVersion(fsys fs.FS) (int64, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(names) == 0 {
		return 0, fmt.Errorf("load migrations: none found (%v)", err)
	}
	var latest int64
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return 0, fmt.Errorf("load migrations: %w", err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// schemaVersion reads the version goose recorded in the database, without
// creating anything or taking a lock: 0 for a database never migrated.
func schemaVersion(ctx context.Context, db dbtx) (int64, error) {
	var exists bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables
		WHERE schemaname = current_schema() AND tablename = 'goose_db_version')`).Scan(&exists)
	if err != nil || !exists {
		return 0, classify(err)
	}
	var v int64
	if err := db.QueryRow(ctx, `SELECT COALESCE(max(version_id), 0) FROM goose_db_version`).Scan(&v); err != nil {
		return 0, classify(err)
	}
	return v, nil
}

// prepareSchema checks the schema and, unless skip, migrates it.
func (s *Store) prepareSchema(ctx context.Context, skip bool) error {
	return migrate(ctx, s.pool, migrationsFS(), s.log, skip)
}

// migrate refuses a database newer than the migrations in fsys and, unless
// skip, applies the pending ones; with skip it requires the newest version.
func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, log *slog.Logger, skip bool) error {
	latest, err := latestVersion(fsys)
	if err != nil {
		return err
	}
	current, err := schemaVersion(ctx, pool)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if err := checkVersion(current, latest); err != nil {
		return err
	}
	if current == latest {
		return nil // nothing to do: no lock, and no right to change the schema needed
	}
	if skip {
		return errdefs.Unsupported("database schema version %d is older than this binary "+
			"needs (%d) and migrations are skipped; migrate the database first (berth migrate)", current, latest)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db, fsys, log)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate schema from version %d: %w", current, classify(err))
	}
	for _, r := range results {
		log.InfoContext(ctx, "postgres: applied migration", "file", r.Source.Path,
			"version", r.Source.Version, "duration", r.Duration)
	}
	// Another replica may have migrated further while this one waited for
	// the lock.
	if current, err = schemaVersion(ctx, pool); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	return checkVersion(current, latest)
}

// checkVersion refuses a schema newer than this binary knows.
func checkVersion(current, latest int64) error {
	if current > latest {
		return errdefs.Unsupported("database schema version %d is newer than this binary knows "+
			"(up to %d); run a newer berth or restore a backup taken before the upgrade", current, latest)
	}
	return nil
}

// Migrate brings the database at url to the newest schema this binary
// knows, for a `berth migrate` step run before the replicas start (which
// then open it with Options.SkipMigrations). Replicas migrating at once
// take turns on an advisory lock. Errors are classed as Open's; a database
// newer than this binary is errdefs.ErrUnsupported.
func Migrate(ctx context.Context, url string, opts Options) (err error) {
	s, err := connect(ctx, url, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	defer errdefs.Wrapf(&err, "migrate PostgreSQL metadata store %s", s.target)
	return s.prepareSchema(ctx, false)
}

// SchemaVersion reports the schema version of the database at url (0 if it
// was never migrated) and the newest version this binary knows; the
// database needs `berth migrate` while current < latest. It changes
// nothing.
func SchemaVersion(ctx context.Context, url string, opts Options) (current, latest int64, err error) {
	s, err := connect(ctx, url, opts)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	defer errdefs.Wrapf(&err, "schema version of PostgreSQL metadata store %s", s.target)
	if latest, err = latestVersion(migrationsFS()); err != nil {
		return 0, 0, err
	}
	if current, err = schemaVersion(ctx, s.pool); err != nil {
		return 0, 0, err
	}
	return current, latest, nil
}
