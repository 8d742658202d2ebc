package client

import (
	"context"

	"github.com/berth-registry/berth/internal/api/admin/wire"
)

func quotaPath(project string) string { return "/api/v1/projects/" + esc(project) + "/quota" }

// GetQuota returns the storage quota of project with its usage (zeros
// for the limits when it has none).
func (c *Client) GetQuota(ctx context.Context, project string) (*wire.Quota, error) {
	return call[wire.Quota](ctx, c, request{method: "GET", path: quotaPath(project)})
}

// SetQuota sets the storage quota of project (system administrators) and
// returns it with the current usage.
func (c *Client) SetQuota(ctx context.Context, project string, s wire.QuotaSettings) (*wire.Quota, error) {
	return call[wire.Quota](ctx, c, request{method: "PUT", path: quotaPath(project), in: s})
}

// DeleteQuota removes the storage quota of project (system
// administrators).
func (c *Client) DeleteQuota(ctx context.Context, project string) error {
	return c.do(ctx, request{method: "DELETE", path: quotaPath(project)})
}
