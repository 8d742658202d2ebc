package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// How a commit waits for a garbage collection sweep of the same digest:
// it looks every sweepPollBase, backing off to sweepPollMax, and after
// sweepWait takes the sweep over. A live sweeper finishes a digest well
// within that (gc bounds each byte delete to a few seconds), so a claim
// that old was left by a sweeper that stopped (a crash).
var (
	sweepWait     = 30 * time.Second
	sweepPollBase = 10 * time.Millisecond
	sweepPollMax  = 500 * time.Millisecond
)

// leaseForCommit leases dgst before an upload commits its bytes, so that
// garbage collection, which may still hold a tombstone of an earlier blob
// with this digest, does not delete bytes the commit is about to rely on
// (the blob store keeps existing content when the same digest is committed
// again). While a sweeper is deleting those bytes the lease is refused;
// leaseForCommit then waits for the sweep to end, after which the commit
// writes fresh bytes, and finishes the sweep itself if it stalled. The
// lease lasts Options.GCGrace, enough for the commit; recordBlob then
// leases for Options.BlobLease.
func (s *Service) leaseForCommit(ctx context.Context, dgst digest.Digest) error {
	if s.gc == nil {
		return nil
	}
	deadline := time.Now().Add(sweepWait)
	pause := sweepPollBase
	for {
		err := s.gc.LeaseBlobForCommit(ctx, dgst, s.now().Add(s.opts.GCGrace))
		if !errdefs.IsConflict(err) {
			return err
		}
		if time.Now().After(deadline) {
			if err := s.finishSweep(ctx, dgst); err != nil {
				return err
			}
			deadline = time.Now().Add(sweepWait)
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, sweepPollMax)
	}
}

// finishSweep completes the byte deletion of a tombstone whose sweeper
// stopped: it claims it again, deletes the old bytes and the tombstone, as
// the next collection run would.
func (s *Service) finishSweep(ctx context.Context, dgst digest.Digest) error {
	res, err := s.gc.ClaimTombstone(ctx, dgst, s.now())
	if err != nil || res != meta.ClaimOK {
		return err
	}
	s.log.WarnContext(ctx, "finishing a stalled garbage collection sweep before committing the blob again", "digest", dgst)
	if err := s.blobs.Delete(ctx, dgst); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("finish the sweep of %s: %w", dgst, err)
	}
	return s.gc.DeleteTombstone(ctx, dgst)
}
