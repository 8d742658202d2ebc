package client

import (
	"context"
	"strconv"

	"github.com/berth-registry/berth/internal/api/admin/wire"
)

// immutabilityPath is the collection of project's immutability rules, or
// of the system-wide ones for "".
func immutabilityPath(project string) string {
	if project == "" {
		return "/api/v1/immutability"
	}
	return "/api/v1/projects/" + esc(project) + "/immutability"
}

// ListImmutabilityRules returns the tag immutability rules of project, or
// the system-wide ones for "", oldest first.
func (c *Client) ListImmutabilityRules(ctx context.Context, project string) ([]wire.ImmutabilityRule, error) {
	var out wire.ImmutabilityRuleList
	err := c.do(ctx, request{method: "GET", path: immutabilityPath(project), out: &out})
	return out.Rules, err
}

// AddImmutabilityRule adds a tag immutability rule to project ("": a
// system-wide rule) and returns it as stored.
func (c *Client) AddImmutabilityRule(ctx context.Context, project string, r wire.NewImmutabilityRule) (*wire.ImmutabilityRule, error) {
	return call[wire.ImmutabilityRule](ctx, c, request{method: "POST", path: immutabilityPath(project), in: r})
}

// RemoveImmutabilityRule removes rule id of project ("": a system-wide
// rule).
func (c *Client) RemoveImmutabilityRule(ctx context.Context, project string, id int64) error {
	return c.do(ctx, request{method: "DELETE", path: immutabilityPath(project) + "/" + strconv.FormatInt(id, 10)})
}
