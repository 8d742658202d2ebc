package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tunes Open. The zero value is a good default.
type Options struct {
	// Logger receives the store's few log lines (migrations applied, the
	// change feed reconnecting). Nil means slog.Default().
	Logger *slog.Logger
	// SkipMigrations opens the database without migrating it, for when
	// another step (an operator, `berth migrate`) owns the schema. The
	// schema version is still checked: Open fails unless the database is at
	// exactly the newest version this binary knows.
	SkipMigrations bool
	// MaxConns is the size of the connection pool. Zero means the URL's
	// pool_max_conns, else max(4, number of CPUs).
	MaxConns int32
	// ConnectTimeout bounds each attempt to connect. Zero means the URL's
	// connect_timeout, else 10s.
	ConnectTimeout time.Duration
}

// Store is the PostgreSQL meta.Store, for several processes sharing one
// database. It is safe for concurrent use. Its meta.Querier methods run
// outside any transaction, each as one statement (atomic by itself).
type Store struct {
	querier
	pool *pgxpool.Pool
	// tags batches concurrent tag lookups (batch.go).
	tags       *tagBatcher
	connConfig *pgx.ConnConfig // for the change feed's own connection
	log        *slog.Logger
	// target names the database for messages: user@host:port/database,
	// never the password.
	target string
	// closing is canceled by Close, ending the change feeds.
	closing context.Context
	close   context.CancelFunc
}

var _ meta.Store = (*Store)(nil)

// maxTxAttempts bounds how often WithTx runs fn when the transaction keeps
// losing races (serialization failures, deadlocks).
const maxTxAttempts = 5

// Open connects to the PostgreSQL database at url (postgres://user:pass@
// host:port/database?sslmode=...; every parameter pgx knows is honoured),
// migrates it to the newest schema unless opts.SkipMigrations, and returns
// a Store. A server that cannot be reached or refuses the credentials is
// errdefs.ErrUnavailable, with a message naming the host and database (never
// the password); a malformed URL is errdefs.ErrInvalid; a database whose
// schema is newer than this binary knows (or older, while migrations are
// skipped) is errdefs.ErrUnsupported.
func Open(ctx context.Context, url string, opts Options) (_ *Store, err error) {
	s, err := connect(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	defer errdefs.Wrapf(&err, "open PostgreSQL metadata store %s", s.target)
	if err := s.prepareSchema(ctx, opts.SkipMigrations); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// connect parses url, opens the pool and checks that a connection works.
func connect(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := parseConfig(url, opts)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Store{connConfig: cfg.ConnConfig.Copy(), log: log, target: describe(cfg.ConnConfig)}
	s.closing, s.close = context.WithCancel(context.Background())
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		s.close()
		return nil, errdefs.Invalid("open PostgreSQL metadata store %s: %s", s.target, redact(err, cfg.ConnConfig.Password))
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		s.close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", s.target, ctx.Err())
		}
		return nil, errdefs.Unavailable("cannot connect to PostgreSQL at %s: %s", s.target,
			redact(err, cfg.ConnConfig.Password))
	}
	s.querier = querier{db: s.pool}
	s.tags = newTagBatcher(s.pool, tagBatchesInFlight(cfg.MaxConns))
	return s, nil
}

// parseConfig reads url and applies opts and Berth's session settings.
func parseConfig(url string, opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx masks the password in the URL it quotes; mask it again in
		// case a future message does not.
		return nil, errdefs.Invalid("parse PostgreSQL URL: %s", redactURL(err.Error(), url))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cc := cfg.ConnConfig
	if opts.ConnectTimeout > 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
	} else if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 10 * time.Second
	}
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "berth"
	}
	// The store's concurrency reasoning (row locks, ON CONFLICT, re-checked
	// WHERE clauses) is READ COMMITTED's, whatever the server's default.
	cc.RuntimeParams["default_transaction_isolation"] = "read committed"
	return cfg, nil
}

// describe names the database a config points at, for messages.
func describe(cc *pgx.ConnConfig) string {
	host := cc.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(cc.Port)))
	}
	return fmt.Sprintf("%s@%s/%s", cc.User, host, cc.Database)
}

// redact is err's message with password masked.
func redact(err error, password string) string {
	msg := err.Error()
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return msg
}

// redactURL masks the password of url in msg.
func redactURL(msg, url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		rest := url[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 && colon+1 < at {
				msg = strings.ReplaceAll(msg, rest[colon+1:at], "xxxxx")
			}
		}
	}
	return msg
}

// WithTx runs fn in one READ COMMITTED transaction, committing it if fn
// returns nil and rolling it back otherwise (also if fn panics). The
// changes fn made that the change feed announces are sent just before the
// commit, so they are delivered if and only if it commits. If the
// transaction fails over a race with another one (a serialization failure
// or a deadlock, which PostgreSQL resolves by aborting one side), fn runs
// again, up to 5 times, after a short random pause; on other failures it
// returns fn's error unchanged.
func (s *Store) WithTx(ctx context.Context, fn func(tx meta.Querier) error) error {
	for attempt := 1; ; attempt++ {
		err := s.runTx(ctx, fn)
		if err == nil || !retryable(err) || attempt == maxTxAttempts {
			return err
		}
		pause := time.Duration(attempt) * time.Duration(1+rand.IntN(10)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// runTx is one attempt of WithTx.
func (s *Store) runTx(ctx context.Context, fn func(tx meta.Querier) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("postgres: begin transaction: %w", classify(err))
	}
	committed := false
	defer func() {
		if !committed { // fn failed or panicked, or the commit failed
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	var changes []meta.Change
	if err := fn(&querier{db: tx, changes: &changes}); err != nil {
		return err
	}
	if len(changes) > 0 {
		batch := &pgx.Batch{}
		for _, p := range encodeChanges(changes) {
			batch.Queue(notifySQL, p)
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("postgres: announce changes: %w", classify(err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", classify(err))
	}
	committed = true
	return nil
}

// Stats returns store-wide counts: all repositories (with or without
// manifests), manifests, tags, blob records with their total size, and
// upload sessions. It counts rows, so it costs a scan of each table.
func (s *Store) Stats(ctx context.Context) (st meta.Stats, err error) {
	defer errdefs.Wrapf(&err, "postgres: stats")
	err = s.pool.QueryRow(ctx, statsSQL).Scan(&st.Repositories, &st.Manifests, &st.Tags,
		&st.Blobs, &st.BlobBytes, &st.Uploads)
	if err != nil {
		return meta.Stats{}, classify(err)
	}
	return st, nil
}

// Ping checks that a pooled connection works; an error (of class
// errdefs.ErrUnavailable when the server cannot be reached) means the store
// cannot serve.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping %s: %w", s.target, classify(err))
	}
	return nil
}

// Close ends the change feeds and closes the pool, waiting for the
// connections in use to be returned.
func (s *Store) Close() error {
	s.close()
	s.pool.Close()
	return nil
}

// OpenJobsPool opens a separate pool on the database at url for the job
// queue (River), which keeps connections of its own listening and polling;
// a pool apart keeps them from starving the store's. It does not touch the
// schema (the queue migrates its own tables). Errors are classed as Open's.
func OpenJobsPool(ctx context.Context, url string, opts Options) (*pgxpool.Pool, error) {
	s, err := connect(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	s.close()
	return s.pool, nil
}
