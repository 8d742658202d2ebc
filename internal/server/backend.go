package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/blob/s3"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/cache"
	"github.com/berth-registry/berth/internal/meta/postgres"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

// Backend is the storage a server runs on: a metadata store (behind the
// pull-path cache unless it is off), a blob store, and the job queue's
// handle on the same database.
type Backend struct {
	// Meta is the store every part of the server uses.
	Meta meta.Store
	// Raw is the metadata store without the cache (for dumps).
	Raw meta.Store
	// Blobs is the blob store.
	Blobs blob.Store
	// Describe names the backends for logs: never a password.
	Describe string

	newQueue func(ctx context.Context, tasks []jobs.Periodic, log *slog.Logger) (*jobs.Queue, error)
	closers  []io.Closer
	stop     context.CancelFunc
}

// OpenBackend opens the stores cfg names: the embedded SQLite file and blob
// directory by default, PostgreSQL and S3 in scale-out mode. It fails with
// a clear error when a backend is unreachable, misconfigured or at a newer
// schema version.
func OpenBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Backend, err error) {
	b := &Backend{}
	defer func() {
		if err != nil {
			_ = b.Close()
		}
	}()
	if err := b.openMeta(ctx, cfg, log.With("component", "meta")); err != nil {
		return nil, err
	}
	if err := b.openBlobs(ctx, cfg, log.With("component", "storage")); err != nil {
		return nil, err
	}
	b.Meta = b.withCache(b.Raw, cfg.Cache, log)
	return b, nil
}

func (b *Backend) openMeta(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	kind, err := cfg.MetadataBackend()
	if err != nil {
		return err
	}
	switch kind {
	case config.BackendPostgres:
		opts := postgres.Options{Logger: log, SkipMigrations: !cfg.Migrate, MaxConns: cfg.Postgres.MaxConns}
		store, err := postgres.Open(ctx, cfg.Metadata, opts)
		if err != nil {
			return err
		}
		b.Raw = store
		b.closers = append(b.closers, store)
		pool, err := postgres.OpenJobsPool(ctx, cfg.Metadata, opts)
		if err != nil {
			return err
		}
		b.closers = append(b.closers, closerFunc(func() error { pool.Close(); return nil }))
		b.newQueue = func(ctx context.Context, tasks []jobs.Periodic, log *slog.Logger) (*jobs.Queue, error) {
			return jobs.NewPostgres(ctx, pool, tasks, jobs.Options{Logger: log.With("component", "jobs")})
		}
		b.Describe = "postgres " + config.Redact(cfg.Metadata)
	default:
		path, err := cfg.MetadataPath()
		if err != nil {
			return err
		}
		store, err := sqlite.Open(ctx, path, sqlite.Options{Logger: log, SkipMigrations: !cfg.Migrate})
		if err != nil {
			return err
		}
		b.Raw = store
		b.closers = append(b.closers, store)
		// River gets its own single connection on the file: SQLite allows
		// one writer and River polls on its own.
		jobsDB, err := sqlite.OpenJobsDB(path)
		if err != nil {
			return err
		}
		b.closers = append(b.closers, jobsDB)
		b.newQueue = func(ctx context.Context, tasks []jobs.Periodic, log *slog.Logger) (*jobs.Queue, error) {
			return jobs.NewSQLite(ctx, jobsDB, tasks, jobs.Options{Logger: log.With("component", "jobs")})
		}
		b.Describe = path
	}
	return nil
}

func (b *Backend) openBlobs(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	kind, err := cfg.StorageBackend()
	if err != nil {
		return err
	}
	if kind == config.BackendS3 {
		store, err := s3.Open(ctx, cfg.Storage, s3.Options{
			PartSize: cfg.S3.PartSize, Redirect: cfg.S3.Redirect, RedirectExpiry: cfg.S3.RedirectExpiry, Logger: log,
		})
		if err != nil {
			return err
		}
		b.Blobs = store
		b.Describe += ", " + config.Redact(cfg.Storage)
		return nil
	}
	dir, err := cfg.StoragePath()
	if err != nil {
		return err
	}
	store, err := filesystem.New(dir, filesystem.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("open blob store %s: %w", dir, err)
	}
	b.Blobs = store
	b.Describe += ", " + dir
	return nil
}

// withCache puts the pull-path cache in front of s unless it is off. When
// other processes share the database (PostgreSQL, which offers a change
// feed), the cache keeps only immutable data, so a replica never answers
// from memory what another replica changed; it follows the change feed to
// free the bytes of deleted manifests early.
func (b *Backend) withCache(s meta.Store, c config.Cache, log *slog.Logger) meta.Store {
	if c.ManifestBytes == 0 {
		return s
	}
	feed, shared := s.(meta.ChangeFeed)
	cs := cache.New(s, cache.Options{MaxBytes: c.ManifestBytes, TTL: c.TTL, Shared: shared})
	if shared {
		ctx, stop := context.WithCancel(context.Background())
		b.stop = stop
		go func() {
			if err := cs.Follow(ctx, feed); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("cache stopped following database changes; entries now expire after the cache TTL", "err", err)
			}
		}()
	}
	return cs
}

// NewQueue builds the job queue on the backend's database.
func (b *Backend) NewQueue(ctx context.Context, tasks []jobs.Periodic, log *slog.Logger) (*jobs.Queue, error) {
	return b.newQueue(ctx, tasks, log)
}

// Close releases the stores, last opened first.
func (b *Backend) Close() error {
	if b.stop != nil {
		b.stop()
	}
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i].Close())
	}
	b.closers = nil
	return errors.Join(errs...)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
