package client

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
)

// call sends req and decodes a T from the answer.
func call[T any](ctx context.Context, c *Client, req request) (*T, error) {
	var out T
	req.out = &out
	if err := c.do(ctx, req); err != nil {
		return nil, err
	}
	return &out, nil
}

// Me returns who the client's credentials belong to.
func (c *Client) Me(ctx context.Context) (*wire.Me, error) {
	return call[wire.Me](ctx, c, request{method: "GET", path: "/api/v1/me"})
}

// page returns the query of a name-ordered listing.
func page(after string, limit int) url.Values {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// ListUsers returns a page of users after `after` (limit 0: the server's
// default); Next names the next page's after.
func (c *Client) ListUsers(ctx context.Context, after string, limit int) (*wire.UserList, error) {
	return call[wire.UserList](ctx, c, request{method: "GET", path: "/api/v1/users", query: page(after, limit)})
}

// CreateUser creates a local user.
func (c *Client) CreateUser(ctx context.Context, u wire.NewUser) (*wire.User, error) {
	return call[wire.User](ctx, c, request{method: "POST", path: "/api/v1/users", in: u})
}

// GetUser returns the user called name.
func (c *Client) GetUser(ctx context.Context, name string) (*wire.User, error) {
	return call[wire.User](ctx, c, request{method: "GET", path: "/api/v1/users/" + esc(name)})
}

// UpdateUser changes the fields ch sets.
func (c *Client) UpdateUser(ctx context.Context, name string, ch wire.UserChange) (*wire.User, error) {
	return call[wire.User](ctx, c, request{method: "PATCH", path: "/api/v1/users/" + esc(name), in: ch})
}

// DeleteUser deletes the user called name.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/api/v1/users/" + esc(name)})
}

// ResetCLISecret gives the user a new CLI secret and returns it.
func (c *Client) ResetCLISecret(ctx context.Context, name string) (*wire.Secret, error) {
	return call[wire.Secret](ctx, c, request{method: "POST", path: "/api/v1/users/" + esc(name) + "/cli-secret"})
}

// ListProjects returns a page of the projects the caller can see.
func (c *Client) ListProjects(ctx context.Context, after string, limit int) (*wire.ProjectList, error) {
	return call[wire.ProjectList](ctx, c, request{method: "GET", path: "/api/v1/projects", query: page(after, limit)})
}

// CreateProject creates a project.
func (c *Client) CreateProject(ctx context.Context, p wire.NewProject) (*wire.Project, error) {
	return call[wire.Project](ctx, c, request{method: "POST", path: "/api/v1/projects", in: p})
}

// GetProject returns the project called name.
func (c *Client) GetProject(ctx context.Context, name string) (*wire.Project, error) {
	return call[wire.Project](ctx, c, request{method: "GET", path: "/api/v1/projects/" + esc(name)})
}

// UpdateProject changes the fields ch sets.
func (c *Client) UpdateProject(ctx context.Context, name string, ch wire.ProjectChange) (*wire.Project, error) {
	return call[wire.Project](ctx, c, request{method: "PATCH", path: "/api/v1/projects/" + esc(name), in: ch})
}

// DeleteProject deletes the project called name.
func (c *Client) DeleteProject(ctx context.Context, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/api/v1/projects/" + esc(name)})
}

// ListMembers returns the members of project.
func (c *Client) ListMembers(ctx context.Context, project string) ([]wire.Member, error) {
	var out wire.MemberList
	err := c.do(ctx, request{method: "GET", path: "/api/v1/projects/" + esc(project) + "/members", out: &out})
	return out.Members, err
}

// PutMember grants m.Role in project to the user or group m names.
func (c *Client) PutMember(ctx context.Context, project string, m wire.Member) (*wire.Member, error) {
	return call[wire.Member](ctx, c, request{method: "PUT", path: "/api/v1/projects/" + esc(project) + "/members", in: m})
}

// DeleteMember removes a member of project; kind is "user" or "group".
func (c *Client) DeleteMember(ctx context.Context, project, kind, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/api/v1/projects/" + esc(project) + "/members/" + esc(kind) + "/" + esc(name)})
}

// robotsPath is where the robots of project ("": system robots) live.
func robotsPath(project string) string {
	if project == "" {
		return "/api/v1/robots"
	}
	return "/api/v1/projects/" + esc(project) + "/robots"
}

// ListRobots returns the robots of project, or the system robots for "".
func (c *Client) ListRobots(ctx context.Context, project string) ([]wire.Robot, error) {
	var out wire.RobotList
	err := c.do(ctx, request{method: "GET", path: robotsPath(project), out: &out})
	return out.Robots, err
}

// CreateRobot creates a robot of project ("": a system robot) and returns
// it with its secret.
func (c *Client) CreateRobot(ctx context.Context, project string, r wire.NewRobot) (*wire.CreatedRobot, error) {
	return call[wire.CreatedRobot](ctx, c, request{method: "POST", path: robotsPath(project), in: r})
}

// GetRobot returns the robot with account name name.
func (c *Client) GetRobot(ctx context.Context, name string) (*wire.Robot, error) {
	return call[wire.Robot](ctx, c, request{method: "GET", path: "/api/v1/robots/" + esc(name)})
}

// UpdateRobot changes the fields ch sets.
func (c *Client) UpdateRobot(ctx context.Context, name string, ch wire.RobotChange) (*wire.Robot, error) {
	return call[wire.Robot](ctx, c, request{method: "PATCH", path: "/api/v1/robots/" + esc(name), in: ch})
}

// DeleteRobot deletes the robot with account name name.
func (c *Client) DeleteRobot(ctx context.Context, name string) error {
	return c.do(ctx, request{method: "DELETE", path: "/api/v1/robots/" + esc(name)})
}

// RegenerateRobotSecret gives the robot a new secret and returns it.
func (c *Client) RegenerateRobotSecret(ctx context.Context, name string) (*wire.Secret, error) {
	return call[wire.Secret](ctx, c, request{method: "POST", path: "/api/v1/robots/" + esc(name) + "/secret"})
}

// AuditQuery selects audit events; zero fields select everything.
type AuditQuery struct {
	Actor, Action, Project, Outcome string
	// Resource selects resources with this prefix.
	Resource     string
	Since, Until time.Time
	// Before is the Next cursor of a previous page.
	Before string
	// Limit is the page size (ListAudit) or the total (ExportAudit).
	Limit int
}

func (q AuditQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("actor", q.Actor)
	set("action", q.Action)
	set("project", q.Project)
	set("outcome", q.Outcome)
	set("resource", q.Resource)
	set("since", wire.Time(q.Since))
	set("until", wire.Time(q.Until))
	set("before", q.Before)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// ListAudit returns a page of audit events, newest first; Next is the
// Before of the next page.
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) (*wire.AuditList, error) {
	return call[wire.AuditList](ctx, c, request{method: "GET", path: "/api/v1/audit", query: q.values()})
}

// ExportAudit copies the events q selects to w as JSON lines, as the
// server streams them.
func (c *Client) ExportAudit(ctx context.Context, q AuditQuery, w io.Writer) error {
	resp, err := c.send(ctx, request{method: "GET", path: "/api/v1/audit/export", query: q.values()})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("export the audit log: %w", err)
	}
	return nil
}
