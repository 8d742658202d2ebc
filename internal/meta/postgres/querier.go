package postgres

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dbtx is what both the pool and a transaction offer.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// querier implements meta.Querier on the pool (each primitive a statement
// of its own, atomic by itself) or inside a transaction of WithTx.
type querier struct {
	db dbtx
	// changes collects the change-feed entries of a transaction, sent just
	// before it commits; nil outside a transaction, where each statement
	// that changes something notifies by itself.
	changes *[]meta.Change
}

// notifyArg returns the payload announcing ch that a statement outside a
// transaction sends itself (with pg_notify) if it changes something, or
// NULL (nil) inside a transaction, which sends its changes as it commits.
func (q *querier) notifyArg(ch meta.Change) *string {
	if q.changes != nil {
		return nil
	}
	p := encodeChanges([]meta.Change{ch})[0]
	return &p
}

// record notes ch, once its statement changed something, for the
// transaction to send as it commits; outside one it does nothing.
func (q *querier) record(ch meta.Change) {
	if q.changes != nil {
		*q.changes = append(*q.changes, ch)
	}
}

// pgTime is t as stored: microseconds (PostgreSQL keeps no more; truncating
// here, as the SQLite backend does, instead of letting the server round).
func pgTime(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// pgTimeOrNow is pgTime(t), or the current time when t is zero.
func pgTimeOrNow(t time.Time) time.Time {
	if t.IsZero() {
		return pgTime(time.Now())
	}
	return pgTime(t)
}

// limitArg turns the contract's limit into a LIMIT argument: NULL (no
// limit) when limit <= 0.
func limitArg(limit int) *int {
	if limit <= 0 {
		return nil
	}
	return &limit
}
