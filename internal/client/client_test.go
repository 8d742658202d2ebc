package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/client"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
)

func TestServerURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"registry.example.com", "https://registry.example.com"},
		{"registry.example.com:5000/", "https://registry.example.com:5000"},
		{"localhost:5000", "http://localhost:5000"},
		{"127.0.0.1:5000", "http://127.0.0.1:5000"},
		{"[::1]:5000", "http://[::1]:5000"},
		{"http://reg.internal", "http://reg.internal"},
		{"https://127.0.0.1:8443", "https://127.0.0.1:8443"},
		{"", ""},
		{"ftp://reg", ""},
		{"https://reg/v2", ""},
		{"https://user:pw@reg", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := client.ServerURL(tt.in)
			if tt.want == "" {
				if !errors.Is(err, errdefs.ErrInvalid) {
					t.Errorf("got %v, %v; want an ErrInvalid", u, err)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Errorf("got %v, %v; want %s", u, err, tt.want)
			}
		})
	}
}

func newClient(t *testing.T, s *admintest.Server, user, secret string) *client.Client {
	t.Helper()
	c, err := client.New(s.URL, client.Options{Username: user, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRoundTrip drives every method against a real server.
func TestRoundTrip(t *testing.T) {
	s := admintest.Start(t)
	ctx := context.Background()
	c := newClient(t, s, "admin", admintest.AdminPassword)

	if _, err := c.CreateUser(ctx, wire.NewUser{Name: "alice", Password: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	email := "a@example.com"
	if u, err := c.UpdateUser(ctx, "alice", wire.UserChange{Email: &email}); err != nil || u.Email != email {
		t.Fatalf("update user: %+v %v", u, err)
	}
	if u, err := c.GetUser(ctx, "alice"); err != nil || u.Email != email {
		t.Fatalf("get user: %+v %v", u, err)
	}
	users, err := c.ListUsers(ctx, "", 1)
	if err != nil || len(users.Users) != 1 || users.Next != "admin" {
		t.Fatalf("list users: %+v %v", users, err)
	}
	if sec, err := c.ResetCLISecret(ctx, "alice"); err != nil || sec.Secret == "" {
		t.Fatalf("cli secret: %+v %v", sec, err)
	}
	if _, err := c.CreateProject(ctx, wire.NewProject{Name: "team"}); err != nil {
		t.Fatal(err)
	}
	public := true
	if p, err := c.UpdateProject(ctx, "team", wire.ProjectChange{Public: &public}); err != nil || !p.Public {
		t.Fatalf("update project: %+v %v", p, err)
	}
	if p, err := c.GetProject(ctx, "team"); err != nil || !p.Public {
		t.Fatalf("get project: %+v %v", p, err)
	}
	if l, err := c.ListProjects(ctx, "", 0); err != nil || len(l.Projects) != 1 {
		t.Fatalf("list projects: %+v %v", l, err)
	}
	if _, err := c.PutMember(ctx, "team", wire.Member{Kind: "user", Name: "alice", Role: "maintainer"}); err != nil {
		t.Fatal(err)
	}
	members, err := c.ListMembers(ctx, "team")
	// The creator of a project is its first admin.
	want := []wire.Member{{Kind: "user", Name: "admin", Role: "projectAdmin", CreatedAt: "2026-11-01T12:00:00Z"},
		{Kind: "user", Name: "alice", Role: "maintainer", CreatedAt: "2026-11-01T12:00:00Z"}}
	if diff := cmp.Diff(want, members); err != nil || diff != "" {
		t.Fatalf("members: %+v %v", members, err)
	}

	alice := newClient(t, s, "alice", "alice-password")
	created, err := alice.CreateRobot(ctx, "team", wire.NewRobot{Name: "ci", Permissions: []wire.Permission{{Project: "team", Actions: []string{"pull"}}}})
	if err != nil {
		t.Fatal(err)
	}
	robot := newClient(t, s, created.Name, created.Secret)
	if me, err := robot.Me(ctx); err != nil || me.Kind != "robot" {
		t.Fatalf("robot me: %+v %v", me, err)
	}
	desc := "pulls"
	if r, err := alice.UpdateRobot(ctx, created.Name, wire.RobotChange{Description: &desc}); err != nil || r.Description != desc {
		t.Fatalf("update robot: %+v %v", r, err)
	}
	if r, err := alice.GetRobot(ctx, created.Name); err != nil || r.Description != desc {
		t.Fatalf("get robot: %+v %v", r, err)
	}
	if l, err := alice.ListRobots(ctx, "team"); err != nil || len(l) != 1 {
		t.Fatalf("list robots: %+v %v", l, err)
	}
	sec, err := alice.RegenerateRobotSecret(ctx, created.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := robot.Me(ctx); !errors.Is(err, errdefs.ErrUnauthenticated) {
		t.Errorf("old robot secret still works: %v", err)
	}
	if _, err := newClient(t, s, created.Name, sec.Secret).Me(ctx); err != nil {
		t.Errorf("new robot secret: %v", err)
	}
	if _, err := c.CreateRobot(ctx, "", wire.NewRobot{Name: "mirror", Permissions: []wire.Permission{{Project: "*", Actions: []string{"pull"}}}}); err != nil {
		t.Fatal(err)
	}
	if l, err := c.ListRobots(ctx, ""); err != nil || len(l) != 1 || l[0].Name != "robot$mirror" {
		t.Fatalf("system robots: %+v %v", l, err)
	}
	for _, step := range []func() error{
		func() error { return alice.DeleteRobot(ctx, created.Name) },
		func() error { return c.DeleteMember(ctx, "team", "user", "alice") },
		func() error { return c.DeleteProject(ctx, "team") },
		func() error { return c.DeleteUser(ctx, "alice") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}

	s.FlushAudit(t)
	page, err := c.ListAudit(ctx, client.AuditQuery{Project: "team", Limit: 2})
	if err != nil || len(page.Events) != 2 || page.Next == "" {
		t.Fatalf("audit page: %+v %v", page, err)
	}
	if diff := cmp.Diff([]string{"project.delete", "member.delete"}, []string{page.Events[0].Action, page.Events[1].Action}); diff != "" {
		t.Error(diff)
	}
	var buf bytes.Buffer
	if err := c.ExportAudit(ctx, client.AuditQuery{Project: "team", Before: page.Next}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"action":"project.create"`) || strings.Contains(buf.String(), `"action":"project.delete"`) {
		t.Errorf("export after the first page:\n%s", buf.String())
	}
}

func TestErrors(t *testing.T) {
	s := admintest.Start(t)
	ctx := context.Background()
	c := newClient(t, s, "admin", admintest.AdminPassword)
	tests := []struct {
		name   string
		call   func() error
		class  error
		code   string
		status int
	}{
		{"not found", func() error { _, err := c.GetProject(ctx, "nope"); return err }, errdefs.ErrNotFound, "NOT_FOUND", 404},
		{"invalid", func() error { _, err := c.CreateProject(ctx, wire.NewProject{Name: "Bad Name"}); return err }, errdefs.ErrInvalid, "INVALID", 400},
		{"unauthenticated", func() error { _, err := newClient(t, s, "admin", "wrong-password").Me(ctx); return err }, errdefs.ErrUnauthenticated, "UNAUTHORIZED", 401},
		{"anonymous", func() error { _, err := newClient(t, s, "", "").Me(ctx); return err }, errdefs.ErrUnauthenticated, "UNAUTHORIZED", 401},
		{"conflict", func() error { return c.DeleteUser(ctx, "admin") }, errdefs.ErrConflict, "CONFLICT", 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ce *client.Error
			if !errors.As(err, &ce) || !errors.Is(err, tt.class) || ce.Code != tt.code || ce.Status != tt.status || ce.Message == "" {
				t.Errorf("got %#v", err)
			}
		})
	}
	t.Run("not a Berth server", func(t *testing.T) {
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}))
		defer other.Close()
		oc, err := client.New(other.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = oc.Me(ctx)
		if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "502") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		url := gone.URL
		gone.Close()
		oc, err := client.New(url, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := oc.Me(ctx); !errors.Is(err, errdefs.ErrUnavailable) {
			t.Errorf("got %v", err)
		}
	})
}
