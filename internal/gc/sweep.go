package gc

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// sweepChunk is how many tombstones one byte deletion handles at once
// (big enough that a filesystem batch shares most directory fsyncs):
// claimed together, deleted with one blob.DeleteMany (one S3
// DeleteObjects request per step), then dropped.
const sweepChunk = 1000

// sweep deletes the bytes of tombstoned blobs, a chunk at a time, and then
// their tombstones. It reports the first error after finishing the chunk
// it happened in; what failed keeps its tombstone for the next run.
func (c *Collector) sweep(ctx context.Context, rep *Report, workers int, ts []meta.Tombstone, resumed bool) error {
	for len(ts) > 0 {
		n := min(len(ts), sweepChunk)
		if err := c.sweepChunk(ctx, rep, workers, ts[:n], resumed); err != nil {
			return err
		}
		ts = ts[n:]
	}
	return ctx.Err()
}

// sweepChunk claims the tombstones of ts (workers at once), deletes the
// bytes of those it holds in one batch, and drops their tombstones. The
// order per blob is the fence's: claim, bytes, tombstone. A claim blocks
// pushes of its digest, and a push that waited longer than deleteTimeout
// (and more) finishes the sweep itself, so the byte deletion must end
// within deleteTimeout of the first claim.
func (c *Collector) sweepChunk(ctx context.Context, rep *Report, workers int, ts []meta.Tombstone, resumed bool) error {
	claims := make([]meta.ClaimResult, len(ts))
	start := time.Now()
	errs := blob.ParallelEach(ctx, len(ts), workers, func(ctx context.Context, i int) error {
		res, err := c.gc.ClaimTombstone(ctx, ts[i].Digest, c.now())
		if err != nil {
			return fmt.Errorf("gc: claim %s: %w", ts[i].Digest, err)
		}
		claims[i] = res
		return nil
	})
	var held []int
	for i, err := range errs {
		switch {
		case err != nil:
		case claims[i] == meta.ClaimOK:
			held = append(held, i)
		default:
			// Pushed again, leased by an upload, or finished by another
			// collector: the bytes stay (or are gone already).
			rep.Kept++
		}
	}
	dgsts := make([]digest.Digest, len(held))
	for n, i := range held {
		dgsts[n] = ts[i].Digest
	}
	dctx, cancel := context.WithDeadline(ctx, start.Add(deleteTimeout))
	delErrs := blob.DeleteMany(dctx, c.blobs, dgsts, workers)
	cancel()
	var gone []int
	for n, i := range held {
		if delErrs[n] != nil {
			errs[i] = fmt.Errorf("gc: delete bytes of %s: %w", ts[i].Digest, delErrs[n])
			continue
		}
		gone = append(gone, i)
	}
	dropErrs := blob.ParallelEach(ctx, len(gone), workers, func(ctx context.Context, n int) error {
		if err := c.gc.DeleteTombstone(ctx, ts[gone[n]].Digest); err != nil {
			return fmt.Errorf("gc: delete tombstone of %s: %w", ts[gone[n]].Digest, err)
		}
		return nil
	})
	for n, i := range gone {
		if dropErrs[n] != nil {
			errs[i] = dropErrs[n]
			continue
		}
		if resumed {
			rep.Resumed++
			rep.Bytes += ts[i].Size
		} else {
			rep.reclaimed(ts[i].Digest, ts[i].Size)
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
