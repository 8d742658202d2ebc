package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Options tunes Open. The zero value is a good default.
type Options struct {
	// Logger receives the store's few log lines (migrations applied, a
	// failed rollback). Nil means slog.Default().
	Logger *slog.Logger
	// SkipMigrations opens the database without migrating it, for when
	// another step (an operator, a `migrate` command) owns the schema. The
	// schema version is still checked: Open fails unless the database is
	// at exactly the newest version this binary knows.
	SkipMigrations bool
	// ReadConns is the size of the reader pool. Zero means
	// max(4, 2×GOMAXPROCS).
	ReadConns int
	// BusyTimeout is how long a connection waits for a lock held by another
	// process using the same file. Zero means 5s.
	BusyTimeout time.Duration
}

// Store is the SQLite meta.Store. It is safe for concurrent use. Its
// meta.Querier methods run outside any transaction (reads on the reader
// pool, each write in a transaction of its own on the writer).
type Store struct {
	querier
	log    *slog.Logger
	writer *sql.DB
	reader *sql.DB
	wstmts *stmtCache
	rstmts *stmtCache
	commit *committer
}

var _ meta.Store = (*Store)(nil)

// Open opens (creating it and its parent directory if missing) the SQLite
// database at path, migrates it to the newest schema unless
// opts.SkipMigrations, and returns a Store. It fails with an error of class
// errdefs.ErrUnsupported if the database holds a newer schema than this
// binary knows, or an older one while migrations are skipped. The path must
// name a file: an in-memory database cannot be shared by the two pools.
func Open(ctx context.Context, path string, opts Options) (_ *Store, err error) {
	defer errdefs.Wrapf(&err, "open sqlite metadata store %s", path)
	s, err := openPools(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	if err := s.prepareSchema(ctx, opts.SkipMigrations); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// openPools opens the writer and reader pools on path.
func openPools(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, errdefs.Invalid("a database file path is required")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, errdefs.Invalid("resolve path: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("create parent directory: %w: %w", errdefs.ErrUnavailable, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = max(4, 2*runtime.GOMAXPROCS(0))
	}

	writer, err := sql.Open("sqlite", dsn(abs, busy, true))
	if err != nil {
		return nil, classify(err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// The writer connection switches the file to WAL; open it before any
	// reader so the readers never see a rollback-journal database.
	if err := writer.PingContext(ctx); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("open writer: %w", classify(err))
	}

	reader, err := sql.Open("sqlite", dsn(abs, busy, false))
	if err != nil {
		_ = writer.Close()
		return nil, classify(err)
	}
	reader.SetMaxOpenConns(readConns)
	reader.SetMaxIdleConns(readConns)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)

	s := &Store{
		log:    log,
		writer: writer,
		reader: reader,
		wstmts: newStmtCache(writer),
		rstmts: newStmtCache(reader),
	}
	s.commit = newCommitter(writer, s.wstmts, log)
	s.querier = querier{
		read:  runner{db: reader, stmts: s.rstmts},
		store: s,
	}
	return s, nil
}

// dsn builds the connection string for path: a file: URI (so that any
// character in the path survives) with the pragmas each pool needs.
func dsn(path string, busy time.Duration, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	if writer {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_foreign_keys", "1")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// WithTx runs fn in one IMMEDIATE transaction on the writer connection,
// committing it if fn returns nil and rolling it back otherwise (also if fn
// panics). On failure it returns fn's error unchanged. Writers queue for the
// single writer connection, so there is no serialization failure and fn is
// never retried. fn must touch the database only through tx, as the
// contract says: a write through the Store itself would wait (until ctx
// ends) for the connection fn's own transaction holds.
func (s *Store) WithTx(ctx context.Context, fn func(tx meta.Querier) error) error {
	return s.inTx(ctx, func(q *querier) error { return fn(q) })
}

// inTx runs fn with a querier bound to a writer transaction, which it may
// share with other callers' work through group commit (groupcommit.go).
func (s *Store) inTx(ctx context.Context, fn func(q *querier) error) error {
	return s.commit.do(ctx, fn)
}

// Stats returns store-wide counts: all repositories (with or without
// manifests), manifests, tags, blob records with their total size, and
// upload sessions.
func (s *Store) Stats(ctx context.Context) (st meta.Stats, err error) {
	defer errdefs.Wrapf(&err, "sqlite: stats")
	err = s.read.queryRow(ctx, statsSQL).Scan(&st.Repositories, &st.Manifests, &st.Tags,
		&st.Blobs, &st.BlobBytes, &st.Uploads)
	if err != nil {
		return meta.Stats{}, classify(err)
	}
	return st, nil
}

// Ping runs a trivial query on the reader pool; an error (of class
// errdefs.ErrUnavailable when the file cannot be read) means the store
// cannot serve. It does not wait for the writer connection, so a long
// write transaction does not make the process look unready.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.queryRow(ctx, pingSQL).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", classify(err))
	}
	return nil
}

// Close closes both pools and their prepared statements. Closing the last
// connection checkpoints the WAL into the database file.
func (s *Store) Close() error {
	s.commit.stop()
	return errors.Join(s.rstmts.close(), s.wstmts.close(), s.reader.Close(), s.writer.Close())
}
