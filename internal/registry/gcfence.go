package registry

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// How long a commit waits for a garbage collection sweep of the same
// digest to finish, and how often it looks.
const (
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
// writes fresh bytes. The lease lasts Options.GCGrace, enough for the
// commit; recordBlob then leases for Options.BlobLease.
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
			return errdefs.Unavailable("garbage collection is still removing an earlier copy of blob %s; retry the upload", dgst)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, sweepPollMax)
	}
}
