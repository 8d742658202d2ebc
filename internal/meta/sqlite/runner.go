package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/berth-registry/berth/internal/errdefs"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// stmtCache prepares each query text once on a pool and hands out the same
// *sql.Stmt afterwards; database/sql then keeps it prepared on every
// connection of that pool.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// lookup returns the prepared statement for query, if there is one.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query]
}

// get returns the prepared statement for query, preparing it on first use
// (which needs a free connection of the pool).
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := c.lookup(query); st != nil {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[query]; st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

// prepareAll prepares every query.
func (c *stmtCache) prepareAll(ctx context.Context, queries []string) error {
	for _, q := range queries {
		if _, err := c.get(ctx, q); err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
	}
	return nil
}

// close closes every cached statement.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// runner runs statements on a pool (db) or inside a transaction (tx), always
// through prepared statements.
type runner struct {
	db    *sql.DB
	tx    *sql.Tx
	stmts *stmtCache // prepared on db, or on the pool tx belongs to
}

func (r runner) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if r.tx != nil {
		// The pool's only connection is the tx's: a statement that Open did
		// not prepare must be prepared on the tx, not on the pool (which
		// would wait for the connection forever). Both wrappers are closed
		// with the transaction; StmtContext reuses the statement already
		// prepared on the connection.
		if st := r.stmts.lookup(query); st != nil {
			return r.tx.StmtContext(ctx, st), nil
		}
		return r.tx.PrepareContext(ctx, query)
	}
	return r.stmts.get(ctx, query)
}

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// scanner is what *sql.Row offers.
type scanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (r runner) queryRow(ctx context.Context, query string, args ...any) scanner {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// affected returns the rows a statement changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sqliteCode returns the extended result code of err, or 0 if err is not
// a SQLite error.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// isFKViolation reports whether err is a failed foreign key constraint.
// Callers decide what that means (a missing manifest, a manifest still in
// use).
func isFKViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// isUniqueViolation reports whether err is a failed PRIMARY KEY or UNIQUE
// constraint.
func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// classify gives err the errdefs class the contract asks for where the
// class follows from the error alone: no row is ErrNotFound; a database
// that is busy, locked, closed, full or failing I/O is ErrUnavailable.
// Constraint violations are left to the caller, who knows what they mean.
// Context errors pass through unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	case errors.Is(err, sql.ErrConnDone):
		return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	if err.Error() == "sql: database is closed" {
		return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM,
		sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_INTERRUPT:
		return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	return err
}
