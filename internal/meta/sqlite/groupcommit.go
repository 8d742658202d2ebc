package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Group commit.
//
// Every commit with synchronous=FULL costs an fsync of the WAL, and SQLite
// has one writer, so concurrent writers would otherwise pay one fsync each,
// one after the other. The committer runs the write transactions that queue
// up while a commit is in progress as one SQLite transaction: each request
// runs inside its own SAVEPOINT (rolled back alone if it fails), and one
// COMMIT makes the whole batch durable. A caller returns only after the
// commit that holds its work, so the contract is unchanged: when WithTx
// returns nil, the work is durable; when it returns an error, none of it is
// visible. Requests run one after another in queue order, so each sees the
// writes of those before it, as with separate transactions.

// maxBatch bounds how many requests share one commit.
const maxBatch = 64

type txRequest struct {
	ctx  context.Context
	fn   func(q *querier) error
	err  error
	pnc  any // a panic raised by fn, re-raised in the caller
	done chan struct{}
}

type committer struct {
	db    *sql.DB
	stmts *stmtCache
	log   *slog.Logger

	mu      sync.Mutex
	queue   []*txRequest
	wake    chan struct{}
	stopped bool
	exited  chan struct{}
}

func newCommitter(db *sql.DB, stmts *stmtCache, log *slog.Logger) *committer {
	c := &committer{db: db, stmts: stmts, log: log, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go c.loop()
	return c
}

// do queues fn and waits until the batch holding it committed or failed.
func (c *committer) do(ctx context.Context, fn func(q *querier) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &txRequest{ctx: ctx, fn: fn, done: make(chan struct{})}
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return errStoreClosed
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-r.done
	if r.pnc != nil {
		panic(r.pnc)
	}
	return r.err
}

var errStoreClosed = errors.New("sqlite: store is closed")

// stop ends the loop after the queued requests ran.
func (c *committer) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-c.exited
}

func (c *committer) loop() {
	defer close(c.exited)
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxBatch)
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		stopped := c.stopped
		c.mu.Unlock()
		if n == 0 {
			if stopped {
				return
			}
			<-c.wake
			continue
		}
		c.run(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// run executes one batch in one transaction and sets each request's result.
func (c *committer) run(batch []*txRequest) {
	tx, err := c.db.BeginTx(context.Background(), nil)
	if err != nil {
		setAll(batch, fmt.Errorf("begin transaction: %w", classify(err)))
		return
	}
	txRun := runner{tx: tx, stmts: c.stmts}
	q := &querier{read: txRun, tx: &txRun}
	single := len(batch) == 1
	ran := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if !single {
			if _, err := tx.Exec("SAVEPOINT batch"); err != nil {
				c.abort(tx, batch, fmt.Errorf("savepoint: %w", classify(err)))
				return
			}
		}
		r.pnc, r.err = runFn(r.fn, q)
		failed := r.err != nil || r.pnc != nil
		if single {
			if failed {
				c.rollback(tx)
				return
			}
		} else {
			if failed {
				if _, err := tx.Exec("ROLLBACK TO batch"); err != nil {
					c.abort(tx, batch, fmt.Errorf("roll back to savepoint: %w", classify(err)))
					return
				}
			}
			if _, err := tx.Exec("RELEASE batch"); err != nil {
				c.abort(tx, batch, fmt.Errorf("release savepoint: %w", classify(err)))
				return
			}
		}
		if !failed {
			ran++
		}
	}
	if ran == 0 {
		c.rollback(tx)
		return
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("commit: %w", classify(err))
		for _, r := range batch {
			if r.err == nil && r.pnc == nil {
				r.err = err
			}
		}
	}
}

// runFn calls fn, turning a panic into a value to re-raise in the caller.
func runFn(fn func(q *querier) error, q *querier) (pnc any, err error) {
	defer func() {
		if p := recover(); p != nil {
			pnc = p
		}
	}()
	return nil, fn(q)
}

// abort rolls the whole batch back: every request that had not failed on
// its own gets err, since its work is gone too.
func (c *committer) abort(tx *sql.Tx, batch []*txRequest, err error) {
	c.rollback(tx)
	for _, r := range batch {
		if r.err == nil && r.pnc == nil {
			r.err = err
		}
	}
}

func (c *committer) rollback(tx *sql.Tx) {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		c.log.Warn("sqlite: rollback failed", "error", err)
	}
}

func setAll(batch []*txRequest, err error) {
	for _, r := range batch {
		r.err = err
	}
}
