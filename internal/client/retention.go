package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/api/admin/wire"
)

// retentionPath is the retention resource of project.
func retentionPath(project string) string {
	return "/api/v1/projects/" + esc(project) + "/retention"
}

// GetRetentionPolicy returns the retention policy of project.
func (c *Client) GetRetentionPolicy(ctx context.Context, project string) (*wire.RetentionPolicy, error) {
	return call[wire.RetentionPolicy](ctx, c, request{method: "GET", path: retentionPath(project)})
}

// SetRetentionPolicy sets (creates or replaces) the retention policy of
// project and returns it as stored.
func (c *Client) SetRetentionPolicy(ctx context.Context, project string, p wire.RetentionPolicy) (*wire.RetentionPolicy, error) {
	return call[wire.RetentionPolicy](ctx, c, request{method: "PUT", path: retentionPath(project), in: p})
}

// DeleteRetentionPolicy removes the retention policy of project.
func (c *Client) DeleteRetentionPolicy(ctx context.Context, project string) error {
	return c.do(ctx, request{method: "DELETE", path: retentionPath(project)})
}

// StartRetentionRun starts a run (or a dry run) of project's policy and
// returns it, queued.
func (c *Client) StartRetentionRun(ctx context.Context, project string, dryRun bool) (*wire.RetentionRun, error) {
	return call[wire.RetentionRun](ctx, c, request{method: "POST", path: retentionPath(project) + "/runs",
		in: wire.NewRetentionRun{DryRun: dryRun}})
}

// ListRetentionRuns returns up to limit (0: the server's default) runs of
// project, newest first.
func (c *Client) ListRetentionRuns(ctx context.Context, project string, limit int) ([]wire.RetentionRun, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out wire.RetentionRunList
	err := c.do(ctx, request{method: "GET", path: retentionPath(project) + "/runs", query: q, out: &out})
	return out.Runs, err
}

// GetRetentionRun returns run id of project with its progress.
func (c *Client) GetRetentionRun(ctx context.Context, project string, id int64) (*wire.RetentionRun, error) {
	return call[wire.RetentionRun](ctx, c, request{method: "GET",
		path: retentionPath(project) + "/runs/" + strconv.FormatInt(id, 10)})
}

// RetentionReport returns the whole report of run id of project, a page
// at a time.
func (c *Client) RetentionReport(ctx context.Context, project string, id int64) ([]wire.RetentionDecision, error) {
	var all []wire.RetentionDecision
	for after := int64(0); ; {
		q := url.Values{}
		q.Set("after", strconv.FormatInt(after, 10))
		var page wire.RetentionReport
		err := c.do(ctx, request{method: "GET", query: q, out: &page,
			path: retentionPath(project) + "/runs/" + strconv.FormatInt(id, 10) + "/report"})
		if err != nil {
			return all, err
		}
		all = append(all, page.Decisions...)
		if page.Next == 0 {
			return all, nil
		}
		after = page.Next
	}
}

// RetentionTrash returns what retention deleted in project that is still
// restorable, newest first, a page at a time.
func (c *Client) RetentionTrash(ctx context.Context, project string) ([]wire.TrashEntry, error) {
	var all []wire.TrashEntry
	for before := int64(0); ; {
		q := url.Values{}
		if before > 0 {
			q.Set("before", strconv.FormatInt(before, 10))
		}
		var page wire.TrashList
		err := c.do(ctx, request{method: "GET", path: retentionPath(project) + "/trash", query: q, out: &page})
		if err != nil {
			return all, err
		}
		all = append(all, page.Entries...)
		if page.Next == 0 {
			return all, nil
		}
		before = page.Next
	}
}

// RestoreRetentionTrash puts a tag retention deleted back (or, with no
// tag and a digest, takes an untagged manifest out of the trash).
func (c *Client) RestoreRetentionTrash(ctx context.Context, project string, r wire.RestoreRequest) (*wire.TrashEntry, error) {
	return call[wire.TrashEntry](ctx, c, request{method: "POST", path: retentionPath(project) + "/trash/restore", in: r})
}
