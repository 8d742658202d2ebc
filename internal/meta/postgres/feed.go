package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

// The change feed.
//
// PutTag, DeleteTag and DeleteManifest send a notification on the channel
// berth_changes in the transaction that makes the change, so PostgreSQL
// delivers it to every listening session when, and only if, that
// transaction commits, in commit order. A payload is a JSON array of
// changes, [{"r":12,"t":"latest"},{"r":12,"d":"sha256:..."}]: one change
// when a primitive runs on its own, every change of a transaction (split
// into payloads under PostgreSQL's 8000-byte limit) when it runs in WithTx.
// A payload that does not decode (overflowPayload, or one from a future
// format) makes the listener report the changes as lost, which is always
// safe: the reader forgets everything it cached.

const (
	// channel is the LISTEN/NOTIFY channel of the feed.
	channel = "berth_changes"
	// maxPayload is the largest payload sent; PostgreSQL refuses 8000
	// bytes or more.
	maxPayload = 7900
	// overflowPayload replaces a change too large for one payload (a tag
	// name of several kilobytes): listeners treat it as lost changes.
	overflowPayload = "overflow"
	// feedAppName names the listening session in pg_stat_activity.
	feedAppName = "berth-change-feed"
	// feedIdle is how long the listener waits for a notification before it
	// checks, with a query, that its connection still works.
	feedIdle = 30 * time.Second
	// feedRetryMin and feedRetryMax bound the wait before a reconnect,
	// which doubles while connections keep failing.
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 10 * time.Second
)

// wireChange is a meta.Change in a payload.
type wireChange struct {
	Repository int64  `json:"r"`
	Tag        string `json:"t,omitempty"`
	Digest     string `json:"d,omitempty"`
}

// encodeChanges packs changes into as few payloads as fit under
// maxPayload, in order.
func encodeChanges(changes []meta.Change) []string {
	var (
		out []string
		buf []byte
	)
	flush := func() {
		if len(buf) > 0 {
			out = append(out, string(append(buf, ']')))
			buf = buf[:0]
		}
	}
	for _, ch := range changes {
		item, err := json.Marshal(wireChange{Repository: ch.RepositoryID, Tag: ch.Tag, Digest: string(ch.Digest)})
		if err != nil || len(item)+2 > maxPayload {
			flush()
			out = append(out, overflowPayload)
			continue
		}
		if len(buf)+1+len(item)+1 > maxPayload {
			flush()
		}
		if len(buf) == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, item...)
	}
	flush()
	return out
}

// decodeChanges reads a payload; ok is false if it does not decode.
func decodeChanges(payload string) (_ []meta.Change, ok bool) {
	var wire []wireChange
	if err := json.Unmarshal([]byte(payload), &wire); err != nil || len(wire) == 0 {
		return nil, false
	}
	out := make([]meta.Change, len(wire))
	for i, w := range wire {
		out[i] = meta.Change{RepositoryID: w.Repository, Tag: w.Tag, Digest: digest.Digest(w.Digest)}
	}
	return out, true
}

var _ meta.ChangeFeed = (*Store)(nil)

// WatchChanges calls fn with the changes committed by any process sharing
// the database (this one included), in commit order, until ctx ends or the
// Store is closed; it then returns nil. It holds a connection of its own,
// outside the pool, listening on the berth_changes channel. fn(nil, true)
// comes once the listener is in place (so no later commit can be missed),
// again as soon as the connection is lost, and again once a new one
// listens: the caller must then forget everything it cached. Reconnects
// back off from 100ms to 10s while the database stays unreachable.
func (s *Store) WatchChanges(ctx context.Context, fn func(changes []meta.Change, lost bool)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	wait := feedRetryMin
	for {
		conn, err := s.listen(ctx)
		if err == nil {
			fn(nil, true)
			wait = feedRetryMin
			err = s.receive(ctx, conn, fn)
			_ = conn.Close(context.WithoutCancel(ctx))
			if ctx.Err() == nil {
				fn(nil, true) // the connection is gone: changes may be missed from now on
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.WarnContext(ctx, "postgres: change feed connection lost; reconnecting",
			"target", s.target, "retry_in", wait, "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, feedRetryMax)
	}
}

// listen opens the feed's own connection and subscribes to the channel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.connConfig.Copy()
	cfg.RuntimeParams["application_name"] = feedAppName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classify(err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, classify(err)
	}
	return conn, nil
}

// receive hands notifications to fn until ctx ends or the connection
// fails. When no notification came for feedIdle it runs a query, so that a
// connection that died silently is noticed.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn, fn func([]meta.Change, bool)) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, feedIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, feedIdle)
			_, err = conn.Exec(pctx, "SELECT 1")
			cancel()
			if err != nil {
				return classify(err)
			}
			continue
		case err != nil:
			return classify(err)
		}
		if changes, ok := decodeChanges(n.Payload); ok {
			fn(changes, false)
		} else {
			fn(nil, true)
		}
	}
}
