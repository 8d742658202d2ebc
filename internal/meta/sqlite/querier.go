package sqlite

import (
	"context"
	"time"
)

// querier implements meta.Querier. Outside a transaction (the Store's own
// methods) it reads through the reader pool and runs each write in a
// transaction of its own on the writer; inside WithTx both go to the tx.
type querier struct {
	read  runner  // where reads go
	tx    *runner // the transaction, or nil outside one
	store *Store  // opens write transactions when tx is nil
}

// write runs fn on the current transaction, or in a new writer transaction
// outside one, so that each primitive is atomic either way.
func (q *querier) write(ctx context.Context, fn func(w runner) error) error {
	if q.tx != nil {
		return fn(*q.tx)
	}
	return q.store.inTx(ctx, func(tq *querier) error { return fn(*tq.tx) })
}

// micros converts t to the stored form: unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// microsOrNow is micros(t), or the current time when t is zero.
func microsOrNow(t time.Time) int64 {
	if t.IsZero() {
		return time.Now().UnixMicro()
	}
	return t.UnixMicro()
}

// fromMicros converts a stored time back to a UTC time.Time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// limitArg turns the contract's limit into SQLite's LIMIT argument: a
// non-positive limit means no limit (-1).
func limitArg(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

// nowMicros is the current time in the stored form.
func nowMicros() int64 { return time.Now().UnixMicro() }
