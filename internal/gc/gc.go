package gc

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"
)

// Defaults of Options.
const (
	DefaultBatchSize = 1000
	DefaultWorkers   = 32
	// maxListed bounds Report.Digests.
	maxListed = 100
	// deleteTimeout bounds the deletion of one blob's bytes. It stays
	// well under the time a push waits for a claimed digest before it
	// finishes the sweep itself (30s, registry.leaseForCommit).
	deleteTimeout = 10 * time.Second
)

// Options tune one run. The zero value is a real run with the defaults.
type Options struct {
	// DryRun only marks: it reports what a run would reclaim and changes
	// nothing (leftover tombstones are counted, not swept).
	DryRun bool
	// BatchSize is how many blobs one metadata transaction deletes.
	// Default DefaultBatchSize.
	BatchSize int
	// Workers bounds the parallel byte deletions. Default DefaultWorkers.
	Workers int
	// Progress, if set, is called after every batch with the totals so far.
	Progress func(Progress)

	// metadataOnly stops after the metadata deletes, as a crash before the
	// byte deletes would (tests).
	metadataOnly bool
}

// Progress is the running total of a run.
type Progress struct {
	// Examined counts the garbage blobs marked so far.
	Examined int64
	// Deleted counts the blobs whose metadata and bytes are gone (in a dry
	// run: that would be).
	Deleted int64
	// Bytes is the size of the Deleted blobs.
	Bytes int64
}

// Report is the outcome of a run.
type Report struct {
	// RunID names the run in tombstones and logs.
	RunID  string `json:"run_id"`
	DryRun bool   `json:"dry_run"`
	// Resumed counts tombstones of earlier runs this run finished (in a
	// dry run: found pending).
	Resumed int64 `json:"resumed"`
	// Examined counts the blobs marked as garbage.
	Examined int64 `json:"examined"`
	// Deleted counts the blobs reclaimed (that would be, in a dry run).
	Deleted int64 `json:"deleted"`
	// Bytes is what Deleted adds up to.
	Bytes int64 `json:"bytes"`
	// Kept counts marked blobs that were in use again by the time of the
	// delete (a concurrent push), and tombstones left for later because an
	// upload holds a lease on the digest.
	Kept int64 `json:"kept"`
	// LinksPruned counts the repository-blob links removed because no
	// manifest of their repository uses the blob (that would be, in a dry
	// run); see pruneLinks.
	LinksPruned int64 `json:"links_pruned"`
	// Digests lists the first reclaimed digests (up to 100).
	Digests []digest.Digest `json:"digests,omitempty"`
	// Duration is how long the run took.
	Duration time.Duration `json:"duration_ns"`
}

// Config builds a Collector.
type Config struct {
	// Logger receives the run's summary and failures; nil discards them.
	Logger *slog.Logger
	// Metrics, if set, records runs and what they reclaimed.
	Metrics *Metrics
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Collector deletes unreferenced blobs from a metadata store and a blob
// store. It is safe to run concurrently with pushes and pulls, and with
// other collectors on the same stores (other replicas): every delete is
// fenced in the metadata store, so the loser of a race does nothing.
type Collector struct {
	meta  meta.Store
	gc    meta.Collector
	blobs blob.Store
	log   *slog.Logger
	met   *Metrics
	now   func() time.Time
}

// New returns a Collector over m and b. It fails with errdefs.ErrUnsupported
// if m does not implement meta.Collector.
func New(m meta.Store, b blob.Store, cfg Config) (*Collector, error) {
	mc, ok := meta.CollectorOf(m)
	if !ok {
		return nil, errdefs.Unsupported("metadata store %T cannot collect garbage", m)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Collector{meta: m, gc: mc, blobs: b, log: log, met: cfg.Metrics, now: now}, nil
}

// Run collects garbage once (see the package comment) and reports what it
// reclaimed. On error the report holds what was done before it; whatever
// was left half-done is finished by the next run.
func (c *Collector) Run(ctx context.Context, opts Options) (rep Report, err error) {
	start := time.Now()
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	rep = Report{RunID: uuid.NewString(), DryRun: opts.DryRun}
	defer func() {
		rep.Duration = time.Since(start)
		c.met.observe(rep, err)
		c.log.InfoContext(ctx, "garbage collection finished", "run", rep.RunID, "dry_run", rep.DryRun,
			"deleted", rep.Deleted, "bytes", rep.Bytes, "resumed", rep.Resumed, "kept", rep.Kept,
			"links_pruned", rep.LinksPruned,
			"duration", rep.Duration, "err", err)
	}()
	if err := c.resume(ctx, &rep, opts); err != nil {
		return rep, err
	}
	if err := c.pruneLinks(ctx, &rep, opts); err != nil {
		return rep, err
	}
	after := digest.Digest("")
	for {
		now := c.now()
		page, err := c.gc.GarbageBlobs(ctx, after, now, opts.BatchSize)
		if err != nil {
			return rep, fmt.Errorf("gc: mark: %w", err)
		}
		if len(page) == 0 {
			return rep, nil
		}
		after = page[len(page)-1].Digest
		rep.Examined += int64(len(page))
		if opts.DryRun {
			for _, b := range page {
				rep.reclaimed(b.Digest, b.Size)
			}
		} else if err := c.deleteBatch(ctx, &rep, opts, page, now); err != nil {
			return rep, err
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Examined: rep.Examined, Deleted: rep.Deleted, Bytes: rep.Bytes})
		}
	}
}

// reclaimed counts one blob as reclaimed.
func (r *Report) reclaimed(d digest.Digest, size int64) {
	r.Deleted++
	r.Bytes += size
	if len(r.Digests) < maxListed {
		r.Digests = append(r.Digests, d)
	}
}

// deleteBatch deletes the metadata of page (fenced) and then its bytes.
func (c *Collector) deleteBatch(ctx context.Context, rep *Report, opts Options, page []meta.Blob, now time.Time) error {
	dgsts := make([]digest.Digest, len(page))
	for i, b := range page {
		dgsts[i] = b.Digest
	}
	deleted, err := c.gc.DeleteGarbageBlobs(ctx, dgsts, rep.RunID, now)
	if err != nil {
		return fmt.Errorf("gc: delete metadata: %w", err)
	}
	rep.Kept += int64(len(page) - len(deleted))
	if opts.metadataOnly {
		return nil
	}
	ts := make([]meta.Tombstone, len(deleted))
	for i, b := range deleted {
		ts[i] = meta.Tombstone{Digest: b.Digest, Size: b.Size}
	}
	return c.sweep(ctx, rep, opts.Workers, ts, false)
}

// resume finishes the tombstones earlier runs left (a crash between the
// metadata delete and the byte delete), or counts them in a dry run.
func (c *Collector) resume(ctx context.Context, rep *Report, opts Options) error {
	after := digest.Digest("")
	for {
		ts, err := c.gc.ListTombstones(ctx, after, opts.BatchSize)
		if err != nil {
			return fmt.Errorf("gc: list tombstones: %w", err)
		}
		if len(ts) == 0 {
			return nil
		}
		after = ts[len(ts)-1].Digest
		if opts.DryRun {
			rep.Resumed += int64(len(ts))
			continue
		}
		if err := c.sweep(ctx, rep, opts.Workers, ts, true); err != nil {
			return err
		}
	}
}
