package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/cache"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

// backend is the storage a server runs on: a metadata store, a blob store
// and the database handle its job queue uses.
type backend struct {
	meta  meta.Store
	blobs blob.Store
	// jobsDB is a separate single-connection handle on the SQLite file for
	// River (SQLite allows one writer; River polls on its own connection).
	jobsDB *sql.DB
}

// openBackend opens the stores cfg names: the embedded SQLite file and blob
// directory by default.
func openBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *backend, err error) {
	b := &backend{}
	defer func() {
		if err != nil {
			_ = b.Close()
		}
	}()
	dbPath, err := cfg.MetadataPath()
	if err != nil {
		return nil, err
	}
	store, err := sqlite.Open(ctx, dbPath, sqlite.Options{Logger: log.With("component", "meta")})
	if err != nil {
		return nil, err
	}
	b.meta = withCache(store, cfg.Cache)
	if b.jobsDB, err = sqlite.OpenJobsDB(dbPath); err != nil {
		return nil, err
	}
	dir, err := cfg.StoragePath()
	if err != nil {
		return nil, err
	}
	if b.blobs, err = filesystem.New(dir, filesystem.Options{Logger: log.With("component", "storage")}); err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", dir, err)
	}
	return b, nil
}

// withCache puts the pull-path cache in front of s unless it is off. Every
// write of this process goes through the returned store, so the cache sees
// them all; this backend has no other writers.
func withCache(s meta.Store, c config.Cache) meta.Store {
	if c.ManifestBytes == 0 {
		return s
	}
	return cache.New(s, cache.Options{MaxBytes: c.ManifestBytes, TTL: c.TTL})
}

// newQueue builds the job queue on the backend's database.
func (b *backend) newQueue(ctx context.Context, tasks []jobs.Periodic, log *slog.Logger) (*jobs.Queue, error) {
	return jobs.NewSQLite(ctx, b.jobsDB, tasks, jobs.Options{Logger: log.With("component", "jobs")})
}

// Close releases the stores.
func (b *backend) Close() error {
	var errs []error
	if b.jobsDB != nil {
		errs = append(errs, b.jobsDB.Close())
	}
	if b.meta != nil {
		errs = append(errs, b.meta.Close())
	}
	return errors.Join(errs...)
}
