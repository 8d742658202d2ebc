package gc

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/meta"
)

// pruneLinks removes stale repository-blob links (meta.LinkPruner): a
// repository's link to a blob that none of its manifests references and
// no live lease holds. The blob itself may stay (another repository still
// uses it); the link going is what lowers the stored bytes of the
// repository's project once its images are deleted. Each batch is deleted
// fenced (re-checked inside the deleting statement), so a link a push just
// made or relies on is kept. A store without the ability prunes nothing.
// A dry run counts the links it would remove.
func (c *Collector) pruneLinks(ctx context.Context, rep *Report, opts Options) error {
	lp, ok := meta.LinkPrunerOf(c.meta)
	if !ok {
		return nil
	}
	after := meta.BlobLink{}
	for {
		now := c.now()
		page, err := lp.StaleLinks(ctx, after, now, opts.BatchSize)
		if err != nil {
			return fmt.Errorf("gc: find stale links: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		after = page[len(page)-1]
		if opts.DryRun {
			rep.LinksPruned += int64(len(page))
			continue
		}
		n, err := lp.DeleteStaleLinks(ctx, page, now)
		if err != nil {
			return fmt.Errorf("gc: delete stale links: %w", err)
		}
		rep.LinksPruned += n
	}
}
