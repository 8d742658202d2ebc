package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// migrationLockID is the session advisory lock under which River's tables
// are migrated, so that replicas starting together take turns instead of
// racing to create the same tables. ("river" in ASCII.)
const migrationLockID = 0x7269766572

// NewPostgres returns a Queue on the PostgreSQL database behind pool,
// migrating River's tables into it. Any number of Queues, in this process
// or in other replicas, may share the database: each job is claimed by one
// of them, and periodic tasks are enqueued only by the one River elects
// leader, so a task runs once per interval however many replicas there
// are. River keeps some connections of the pool for itself (one listening
// for new jobs, others for fetching and maintenance), so give it a pool
// with room for Workers plus about five (postgres.OpenJobsPool opens one
// apart from the metadata store's).
func NewPostgres(ctx context.Context, pool *pgxpool.Pool, tasks []Periodic, opts Options) (*Queue, error) {
	return newQueue(ctx, riverpgxv5.New(pool), tasks, opts,
		func(ctx context.Context, m *rivermigrate.Migrator[pgx.Tx]) error {
			// River runs each migration in a transaction of its own (some
			// cannot share one), so the lock is a session's, held on a
			// connection apart while the migrator uses others.
			return withSessionLock(ctx, pool, migrationLockID, func() error {
				_, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
				return err
			})
		})
}

// withSessionLock runs fn holding the session advisory lock id, waiting
// (until ctx ends) for whoever holds it. It polls, returning the
// connection to the pool between tries, so that waiters hold no connection
// the lock holder's migrator may need, and giving up on ctx leaves no
// query behind.
func withSessionLock(ctx context.Context, pool *pgxpool.Pool, id int64, fn func() error) error {
	var conn *pgxpool.Conn
	for {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		var locked bool
		if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&locked); err != nil {
			c.Release()
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if locked {
			conn = c
			break
		}
		c.Release()
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for another replica's migration: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer conn.Release()
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, id); err != nil {
			// Closing the session releases the lock; the pool then drops
			// the closed connection instead of reusing it.
			_ = conn.Conn().Close(uctx)
		}
	}()
	return fn()
}
