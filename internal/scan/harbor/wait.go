package harbor

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
)

// Wait polls the report of scan id until it is done, waiting between
// polls as long as Report says (the adapter's Refresh-After, else
// Options.DefaultPoll), kept within Options.MinPoll and MaxPoll. It gives
// up after maxWait (no limit when maxWait <= 0) with an error of class
// errdefs.ErrUnavailable, and returns ctx's error when ctx ends first. Any
// error of Report (unknown id, failed scan) ends the wait at once.
func (c *Client) Wait(ctx context.Context, id string, maxWait time.Duration) (*Report, error) {
	wctx := ctx
	if maxWait > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, maxWait)
		defer cancel()
	}
	for polls := 1; ; polls++ {
		r, done, after, err := c.Report(wctx, id)
		if err == nil && done {
			return r, nil
		}
		if err == nil {
			d := c.pollInterval(after)
			c.log.DebugContext(ctx, "scan pending", "id", id, "polls", polls, "next_in", d)
			err = c.sleep(wctx, d)
		}
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil {
				return nil, errdefs.Unavailable("scanner adapter: scan %s not finished after %s (%d polls)", id, maxWait, polls)
			}
			return nil, err
		}
	}
}

// pollInterval bounds the interval Report asked for.
func (c *Client) pollInterval(after time.Duration) time.Duration {
	return min(max(after, c.opts.MinPoll), c.opts.MaxPoll)
}
