// Package audit records the audit log: who did what, from where, when, and
// with what outcome — pushes, pulls, deletes, tag moves, logins, token
// issues and every change of users, projects, members and robots.
//
// A Recorder queues events in memory and Run writes them to the metadata
// store in batches, at least every FlushInterval (1 s by default), so that
// recording never makes a request wait for the database: pull events at
// more than 10,000 a second would otherwise each cost a commit. The price is
// that a crash loses at most the last FlushInterval of events (a clean
// shutdown flushes them). When the queue is full, Record writes
// synchronously instead of dropping events.
//
// Events never carry secrets: callers put names, references and reasons in
// them, never passwords, tokens or their hashes. Run also prunes events
// older than the retention period, once an hour.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Defaults of Options.
const (
	DefaultRetention     = 90 * 24 * time.Hour
	DefaultFlushInterval = time.Second
	DefaultMaxBatch      = 500
	DefaultQueueSize     = 10000
	pruneInterval        = time.Hour
)

// Options configures a Recorder. The zero value gives the defaults.
type Options struct {
	// Retention is how long events are kept. Zero means DefaultRetention
	// (90 days); a negative value keeps events forever.
	Retention time.Duration
	// FlushInterval is the longest an event waits in the queue. Zero means
	// DefaultFlushInterval (1 s).
	FlushInterval time.Duration
	// MaxBatch is the most events written in one store call. Zero means
	// DefaultMaxBatch (500).
	MaxBatch int
	// QueueSize is how many events may wait; past it, Record writes
	// synchronously. Zero means DefaultQueueSize (10,000).
	QueueSize int
	// Logger receives write and prune failures. Nil discards them.
	Logger *slog.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Recorder queues audit events and writes them to the store. It is safe
// for concurrent use.
type Recorder struct {
	store meta.Audit
	opts  Options
	log   *slog.Logger

	mu    sync.Mutex
	queue []meta.AuditEvent
	// kick wakes Run when a full batch is waiting.
	kick chan struct{}
	// writeMu keeps writes in queue order.
	writeMu sync.Mutex
}

// New returns a Recorder writing to store.
func New(store meta.Audit, opts Options) *Recorder {
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: store, opts: opts, log: log, kick: make(chan struct{}, 1)}
}

// remoteKey carries the client address in a context.
type remoteKey struct{}

// WithRemote returns ctx carrying the client address remote; Record fills
// in events that do not name one from it.
func WithRemote(ctx context.Context, remote string) context.Context {
	return context.WithValue(ctx, remoteKey{}, remote)
}

// RemoteFrom returns the client address WithRemote put in ctx, or "".
func RemoteFrom(ctx context.Context) string {
	s, _ := ctx.Value(remoteKey{}).(string)
	return s
}

// Record queues e, setting its time (if zero) and its client address (if
// empty, from WithRemote). It does not wait for the database unless the
// queue is full, in which case it writes the queue and e before returning
// rather than drop anything.
func (r *Recorder) Record(ctx context.Context, e meta.AuditEvent) {
	if e.At.IsZero() {
		e.At = r.opts.Now()
	}
	e.At = e.At.UTC()
	if e.Remote == "" {
		e.Remote = RemoteFrom(ctx)
	}
	r.mu.Lock()
	if len(r.queue) >= r.opts.QueueSize {
		r.mu.Unlock()
		r.writeSync(ctx, e)
		return
	}
	r.queue = append(r.queue, e)
	full := len(r.queue) >= r.opts.MaxBatch
	r.mu.Unlock()
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// writeSync writes the queue and then e, on a full queue.
func (r *Recorder) writeSync(ctx context.Context, e meta.AuditEvent) {
	ctx = context.WithoutCancel(ctx)
	if err := r.Flush(ctx); err != nil {
		r.log.ErrorContext(ctx, "audit queue full and the store refuses writes", "err", err)
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.store.AppendAudit(ctx, []meta.AuditEvent{e}); err != nil {
		r.log.ErrorContext(ctx, "audit event lost: the queue is full and the store refuses writes",
			"action", e.Action, "actor", e.Actor, "err", err)
	}
}

// Flush writes the events queued now, in batches of at most MaxBatch. On
// failure the events not written go back to the front of the queue (as
// far as it has room) and the error is returned.
func (r *Recorder) Flush(ctx context.Context) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.Lock()
	batch := r.queue
	r.queue = nil
	r.mu.Unlock()
	for len(batch) > 0 {
		n := min(len(batch), r.opts.MaxBatch)
		if err := r.store.AppendAudit(ctx, batch[:n]); err != nil {
			lost := r.requeue(batch)
			if lost > 0 {
				err = errors.Join(err, fmt.Errorf("%d audit events dropped: the queue is full", lost))
			}
			return fmt.Errorf("write %d audit events: %w", len(batch), err)
		}
		batch = batch[n:]
	}
	return nil
}

// requeue puts events back before what was queued since, keeping at most
// QueueSize, and returns how many it had to drop (the oldest).
func (r *Recorder) requeue(events []meta.AuditEvent) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := append(append([]meta.AuditEvent(nil), events...), r.queue...)
	lost := 0
	if len(all) > r.opts.QueueSize {
		lost = len(all) - r.opts.QueueSize
		all = all[lost:]
	}
	r.queue = all
	return lost
}

// Run writes queued events every FlushInterval (sooner when a full batch
// waits) and prunes events older than Retention now and every hour, until
// ctx ends; then it writes what is still queued and returns.
func (r *Recorder) Run(ctx context.Context) {
	flush := time.NewTicker(r.opts.FlushInterval)
	defer flush.Stop()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	r.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.log.ErrorContext(fctx, "audit events lost at shutdown", "err", err)
			}
			return
		case <-flush.C:
		case <-r.kick:
		case <-prune.C:
			r.prune(ctx)
			continue
		}
		if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
			r.log.ErrorContext(ctx, "cannot write audit events; retrying", "err", err)
		}
	}
}

// Prune deletes events older than Retention and returns how many; with a
// negative Retention it deletes nothing.
func (r *Recorder) Prune(ctx context.Context) (int64, error) {
	if r.opts.Retention < 0 {
		return 0, nil
	}
	n, err := r.store.PruneAudit(ctx, r.opts.Now().Add(-r.opts.Retention))
	if err != nil {
		return 0, fmt.Errorf("prune the audit log: %w", err)
	}
	return n, nil
}

func (r *Recorder) prune(ctx context.Context) {
	n, err := r.Prune(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.ErrorContext(ctx, "audit prune failed", "err", err)
		}
		return
	}
	if n > 0 {
		r.log.InfoContext(ctx, "pruned old audit events", "count", n, "retention", r.opts.Retention)
	}
}

// List returns the events f selects, newest first. Events still queued are
// not included; call Flush first to see them.
func (r *Recorder) List(ctx context.Context, f meta.AuditFilter) ([]meta.AuditEvent, error) {
	es, err := r.store.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return es, nil
}
