package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/google/go-cmp/cmp"
)

// step is one request of a scenario and what must come back.
type step struct {
	name         string
	as           caller
	method, path string
	body         any
	status       int
	code         string // error code, "" for a success
	check        func(t *testing.T, r response)
}

// run runs steps in order against one server.
func run(t *testing.T, steps []step) {
	t.Helper()
	s := world(t)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := send(t, s, st.as, st.method, st.path, st.body)
			if r.status != st.status {
				t.Fatalf("%s %s as %q: status %d, want %d; body %s", st.method, st.path, st.as.user, r.status, st.status, r.body)
			}
			if code := r.errCode(); code != st.code {
				t.Errorf("error code %q, want %q; body %s", code, st.code, r.body)
			}
			if st.check != nil {
				st.check(t, r)
			}
		})
	}
}

func TestMe(t *testing.T) {
	run(t, []step{
		{name: "admin", as: root, method: "GET", path: "/api/v1/me", status: 200, check: func(t *testing.T, r response) {
			var me wire.Me
			r.decodeInto(t, &me)
			// Creating a project makes its creator its admin.
			want := wire.Me{Kind: "user", Name: "admin", SysAdmin: true, Projects: []wire.ProjectRole{
				{Project: "open", Role: "projectAdmin"}, {Project: "team", Role: "projectAdmin"}}}
			if diff := cmp.Diff(want, me); diff != "" {
				t.Error(diff)
			}
		}},
		{name: "member sees roles", as: alice, method: "GET", path: "/api/v1/me", status: 200, check: func(t *testing.T, r response) {
			var me wire.Me
			r.decodeInto(t, &me)
			want := wire.Me{Kind: "user", Name: "alice", Projects: []wire.ProjectRole{{Project: "team", Role: "projectAdmin"}}}
			if diff := cmp.Diff(want, me); diff != "" {
				t.Error(diff)
			}
		}},
		{name: "anonymous", as: anon, method: "GET", path: "/api/v1/me", status: 401, code: "UNAUTHORIZED", check: wantBasicChallenge},
		{name: "wrong password", as: badPass, method: "GET", path: "/api/v1/me", status: 401, code: "UNAUTHORIZED", check: wantBasicChallenge},
		{name: "unknown user", as: nobody, method: "GET", path: "/api/v1/me", status: 401, code: "UNAUTHORIZED"},
	})
}

func wantBasicChallenge(t *testing.T, r response) {
	t.Helper()
	if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="berth"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

// wantNames checks the names in a listing body.
func wantNames[L any](get func(L) []string, want ...string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		var l L
		r.decodeInto(t, &l)
		if diff := cmp.Diff(want, get(l)); diff != "" {
			t.Errorf("names (-want +got):\n%s", diff)
		}
	}
}

func userNames(l wire.UserList) []string {
	var out []string
	for _, u := range l.Users {
		out = append(out, u.Name)
	}
	return out
}

func projectNames(l wire.ProjectList) []string {
	var out []string
	for _, p := range l.Projects {
		out = append(out, p.Name)
	}
	return out
}

func memberNames(l wire.MemberList) []string {
	var out []string
	for _, m := range l.Members {
		out = append(out, m.Kind+":"+m.Name+":"+m.Role)
	}
	return out
}

func robotNames(l wire.RobotList) []string {
	var out []string
	for _, r := range l.Robots {
		out = append(out, r.Name)
	}
	return out
}

func TestUsers(t *testing.T) {
	big := `{"name":"big","password":"` + strings.Repeat("x", 2<<20) + `"}`
	run(t, []step{
		{name: "list", as: root, method: "GET", path: "/api/v1/users", status: 200,
			check: wantNames(userNames, "admin", "alice", "bob", "carol")},
		{name: "list paged", as: root, method: "GET", path: "/api/v1/users?limit=2&after=alice", status: 200, check: func(t *testing.T, r response) {
			var l wire.UserList
			r.decodeInto(t, &l)
			if diff := cmp.Diff([]string{"bob", "carol"}, userNames(l)); diff != "" || l.Next != "carol" {
				t.Errorf("page %v next %q", userNames(l), l.Next)
			}
		}},
		{name: "list bad limit", as: root, method: "GET", path: "/api/v1/users?limit=0", status: 400, code: "INVALID"},
		{name: "list as non-admin", as: bob, method: "GET", path: "/api/v1/users", status: 403, code: "DENIED"},
		{name: "create", as: root, method: "POST", path: "/api/v1/users", status: 201,
			body: wire.NewUser{Name: "dave", Email: "dave@example.com", Password: "dave-password"}, check: func(t *testing.T, r response) {
				var u wire.User
				r.decodeInto(t, &u)
				want := wire.User{Name: "dave", Email: "dave@example.com",
					CreatedAt: "2026-11-01T12:00:00Z", UpdatedAt: "2026-11-01T12:00:00Z"}
				if diff := cmp.Diff(want, u); diff != "" {
					t.Error(diff)
				}
				if loc := r.header.Get("Location"); loc != "/api/v1/users/dave" {
					t.Errorf("Location %q", loc)
				}
				if strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), "dave-password") {
					t.Errorf("the answer shows the password or its hash: %s", r.body)
				}
			}},
		{name: "create duplicate", as: root, method: "POST", path: "/api/v1/users", status: 409, code: "ALREADY_EXISTS",
			body: wire.NewUser{Name: "dave", Password: "dave-password"}},
		{name: "create bad name", as: root, method: "POST", path: "/api/v1/users", status: 400, code: "INVALID",
			body: wire.NewUser{Name: "Dave!", Password: "dave-password"}},
		{name: "create short password", as: root, method: "POST", path: "/api/v1/users", status: 400, code: "INVALID",
			body: wire.NewUser{Name: "erin", Password: "short"}},
		{name: "create unknown field", as: root, method: "POST", path: "/api/v1/users", status: 400, code: "INVALID",
			body: `{"name":"erin","password":"erin-password","admin":true}`},
		{name: "create not JSON", as: root, method: "POST", path: "/api/v1/users", status: 400, code: "INVALID", body: `name=erin`},
		{name: "create too large", as: root, method: "POST", path: "/api/v1/users", status: 413, code: "TOO_LARGE", body: big},
		{name: "create as non-admin", as: alice, method: "POST", path: "/api/v1/users", status: 403, code: "DENIED",
			body: wire.NewUser{Name: "erin", Password: "erin-password"}},
		{name: "get", as: root, method: "GET", path: "/api/v1/users/alice", status: 200},
		{name: "get self", as: bob, method: "GET", path: "/api/v1/users/bob", status: 200},
		{name: "get other as non-admin", as: bob, method: "GET", path: "/api/v1/users/alice", status: 403, code: "DENIED"},
		{name: "get missing", as: root, method: "GET", path: "/api/v1/users/zed", status: 404, code: "NOT_FOUND"},
		{name: "update", as: root, method: "PATCH", path: "/api/v1/users/dave", status: 200,
			body: `{"email":"d@example.com","disabled":true}`, check: func(t *testing.T, r response) {
				var u wire.User
				r.decodeInto(t, &u)
				if u.Email != "d@example.com" || !u.Disabled {
					t.Errorf("user %+v", u)
				}
			}},
		{name: "update own password", as: carol, method: "PATCH", path: "/api/v1/users/carol", status: 200,
			body: `{"password":"carol-password"}`},
		{name: "update self to admin", as: carol, method: "PATCH", path: "/api/v1/users/carol", status: 403, code: "DENIED",
			body: `{"sys_admin":true}`},
		{name: "update missing", as: root, method: "PATCH", path: "/api/v1/users/zed", status: 404, code: "NOT_FOUND", body: `{"disabled":true}`},
		{name: "demote last admin", as: root, method: "PATCH", path: "/api/v1/users/admin", status: 409, code: "CONFLICT", body: `{"sys_admin":false}`},
		{name: "cli secret", as: root, method: "POST", path: "/api/v1/users/alice/cli-secret", status: 200, check: func(t *testing.T, r response) {
			var s wire.Secret
			r.decodeInto(t, &s)
			if s.Name != "alice" || len(s.Secret) < 32 {
				t.Errorf("secret %+v", s)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
		}},
		{name: "own cli secret", as: bob, method: "POST", path: "/api/v1/users/bob/cli-secret", status: 200},
		{name: "other's cli secret", as: bob, method: "POST", path: "/api/v1/users/alice/cli-secret", status: 403, code: "DENIED"},
		{name: "delete as non-admin", as: alice, method: "DELETE", path: "/api/v1/users/dave", status: 403, code: "DENIED"},
		{name: "delete", as: root, method: "DELETE", path: "/api/v1/users/dave", status: 204},
		{name: "delete again", as: root, method: "DELETE", path: "/api/v1/users/dave", status: 404, code: "NOT_FOUND"},
		{name: "delete last admin", as: root, method: "DELETE", path: "/api/v1/users/admin", status: 409, code: "CONFLICT"},
	})
}

func TestProjectsAndMembers(t *testing.T) {
	run(t, []step{
		{name: "list as admin", as: root, method: "GET", path: "/api/v1/projects", status: 200, check: wantNames(projectNames, "open", "team")},
		{name: "list as outsider", as: carol, method: "GET", path: "/api/v1/projects", status: 200, check: wantNames(projectNames, "open")},
		{name: "list as member", as: bob, method: "GET", path: "/api/v1/projects", status: 200, check: wantNames(projectNames, "open", "team")},
		{name: "create", as: root, method: "POST", path: "/api/v1/projects", status: 201, body: wire.NewProject{Name: "empty"},
			check: func(t *testing.T, r response) {
				var p wire.Project
				r.decodeInto(t, &p)
				want := wire.Project{Name: "empty", CreatedAt: "2026-11-01T12:00:00Z", CreatedBy: "admin"}
				if diff := cmp.Diff(want, p); diff != "" {
					t.Error(diff)
				}
			}},
		{name: "create duplicate", as: root, method: "POST", path: "/api/v1/projects", status: 409, code: "ALREADY_EXISTS", body: wire.NewProject{Name: "empty"}},
		{name: "create bad name", as: root, method: "POST", path: "/api/v1/projects", status: 400, code: "INVALID", body: wire.NewProject{Name: "a/b"}},
		{name: "create as user", as: carol, method: "POST", path: "/api/v1/projects", status: 403, code: "DENIED", body: wire.NewProject{Name: "mine"}},
		{name: "get private as member", as: bob, method: "GET", path: "/api/v1/projects/team", status: 200},
		{name: "get private as outsider hides it", as: carol, method: "GET", path: "/api/v1/projects/team", status: 404, code: "NOT_FOUND"},
		{name: "get public as outsider", as: carol, method: "GET", path: "/api/v1/projects/open", status: 200},
		{name: "get missing", as: root, method: "GET", path: "/api/v1/projects/nope", status: 404, code: "NOT_FOUND"},
		{name: "update as project admin", as: alice, method: "PATCH", path: "/api/v1/projects/team", status: 200, body: `{"public":true}`,
			check: func(t *testing.T, r response) {
				var p wire.Project
				r.decodeInto(t, &p)
				if !p.Public {
					t.Errorf("project %+v", p)
				}
			}},
		{name: "update back", as: alice, method: "PATCH", path: "/api/v1/projects/team", status: 200, body: `{"public":false}`},
		{name: "update empty body", as: alice, method: "PATCH", path: "/api/v1/projects/team", status: 400, code: "INVALID", body: `{}`},
		{name: "update as guest", as: bob, method: "PATCH", path: "/api/v1/projects/team", status: 403, code: "DENIED", body: `{"public":true}`},
		{name: "members as guest", as: bob, method: "GET", path: "/api/v1/projects/team/members", status: 200,
			check: wantNames(memberNames, "user:admin:projectAdmin", "user:alice:projectAdmin", "user:bob:guest")},
		{name: "members as outsider", as: carol, method: "GET", path: "/api/v1/projects/team/members", status: 404, code: "NOT_FOUND"},
		{name: "put member", as: alice, method: "PUT", path: "/api/v1/projects/team/members", status: 200,
			body: wire.Member{Kind: "group", Name: "qa", Role: "developer"}},
		{name: "put member role alias", as: alice, method: "PUT", path: "/api/v1/projects/team/members", status: 200,
			body: wire.Member{Kind: "user", Name: "carol", Role: "limited-guest"}, check: func(t *testing.T, r response) {
				var m wire.Member
				r.decodeInto(t, &m)
				if m.Role != "limitedGuest" {
					t.Errorf("member %+v", m)
				}
			}},
		{name: "members after", as: alice, method: "GET", path: "/api/v1/projects/team/members", status: 200,
			check: wantNames(memberNames, "user:admin:projectAdmin", "user:alice:projectAdmin", "user:bob:guest", "user:carol:limitedGuest", "group:qa:developer")},
		{name: "put bad role", as: alice, method: "PUT", path: "/api/v1/projects/team/members", status: 400, code: "INVALID",
			body: wire.Member{Kind: "user", Name: "carol", Role: "owner"}},
		{name: "put bad kind", as: alice, method: "PUT", path: "/api/v1/projects/team/members", status: 400, code: "INVALID",
			body: wire.Member{Kind: "team", Name: "carol", Role: "guest"}},
		{name: "put unknown user", as: alice, method: "PUT", path: "/api/v1/projects/team/members", status: 400, code: "INVALID",
			body: wire.Member{Kind: "user", Name: "zed", Role: "guest"}},
		{name: "put as guest", as: bob, method: "PUT", path: "/api/v1/projects/team/members", status: 403, code: "DENIED",
			body: wire.Member{Kind: "user", Name: "bob", Role: "projectAdmin"}},
		{name: "delete member as guest", as: bob, method: "DELETE", path: "/api/v1/projects/team/members/user/alice", status: 403, code: "DENIED"},
		{name: "delete member", as: alice, method: "DELETE", path: "/api/v1/projects/team/members/group/qa", status: 204},
		{name: "delete member again", as: alice, method: "DELETE", path: "/api/v1/projects/team/members/group/qa", status: 404, code: "NOT_FOUND"},
		{name: "delete member bad kind", as: alice, method: "DELETE", path: "/api/v1/projects/team/members/robot/x", status: 400, code: "INVALID"},
		{name: "delete project as guest", as: bob, method: "DELETE", path: "/api/v1/projects/team", status: 403, code: "DENIED"},
		{name: "delete project", as: root, method: "DELETE", path: "/api/v1/projects/empty", status: 204},
		{name: "delete project again", as: root, method: "DELETE", path: "/api/v1/projects/empty", status: 404, code: "NOT_FOUND"},
	})
}

func TestRobots(t *testing.T) {
	pull := []wire.Permission{{Project: "team", Actions: []string{"pull"}}}
	run(t, []step{
		{name: "create project robot", as: alice, method: "POST", path: "/api/v1/projects/team/robots", status: 201,
			body: wire.NewRobot{Name: "ci", Description: "CI", Permissions: []wire.Permission{{Project: "team", Repositories: []string{"app-*"}, Actions: []string{"pull", "push"}}},
				ExpiresAt: "2027-02-01T00:00:00Z"},
			check: func(t *testing.T, r response) {
				var c wire.CreatedRobot
				r.decodeInto(t, &c)
				if len(c.Secret) < 32 {
					t.Errorf("secret %q", c.Secret)
				}
				want := wire.Robot{Name: "robot$team+ci", Project: "team", Description: "CI",
					Permissions: []wire.Permission{{Project: "team", Repositories: []string{"app-*"}, Actions: []string{"pull", "push"}}},
					ExpiresAt:   "2027-02-01T00:00:00Z", CreatedAt: "2026-11-01T12:00:00Z", CreatedBy: "alice"}
				if diff := cmp.Diff(want, c.Robot); diff != "" {
					t.Error(diff)
				}
			}},
		{name: "create duplicate", as: alice, method: "POST", path: "/api/v1/projects/team/robots", status: 409, code: "ALREADY_EXISTS",
			body: wire.NewRobot{Name: "ci", Permissions: pull}},
		{name: "create on other project", as: alice, method: "POST", path: "/api/v1/projects/team/robots", status: 400, code: "INVALID",
			body: wire.NewRobot{Name: "sneaky", Permissions: []wire.Permission{{Project: "open", Actions: []string{"pull"}}}}},
		{name: "create with management action", as: alice, method: "POST", path: "/api/v1/projects/team/robots", status: 400, code: "INVALID",
			body: wire.NewRobot{Name: "boss", Permissions: []wire.Permission{{Project: "team", Actions: []string{"manage-members"}}}}},
		{name: "create bad expiry", as: alice, method: "POST", path: "/api/v1/projects/team/robots", status: 400, code: "INVALID",
			body: wire.NewRobot{Name: "x", Permissions: pull, ExpiresAt: "tomorrow"}},
		{name: "create as guest", as: bob, method: "POST", path: "/api/v1/projects/team/robots", status: 403, code: "DENIED",
			body: wire.NewRobot{Name: "mine", Permissions: pull}},
		{name: "create in hidden project", as: carol, method: "POST", path: "/api/v1/projects/team/robots", status: 404, code: "NOT_FOUND",
			body: wire.NewRobot{Name: "mine", Permissions: pull}},
		{name: "list project robots", as: alice, method: "GET", path: "/api/v1/projects/team/robots", status: 200, check: wantNames(robotNames, "robot$team+ci")},
		{name: "get", as: alice, method: "GET", path: "/api/v1/robots/robot$team+ci", status: 200, check: func(t *testing.T, r response) {
			if strings.Contains(string(r.body), "secret") {
				t.Errorf("get shows a secret: %s", r.body)
			}
		}},
		{name: "get escaped", as: alice, method: "GET", path: "/api/v1/robots/robot%24team%2Bci", status: 200},
		{name: "get as outsider", as: carol, method: "GET", path: "/api/v1/robots/robot$team+ci", status: 404, code: "NOT_FOUND"},
		{name: "get missing", as: root, method: "GET", path: "/api/v1/robots/robot$team+nope", status: 404, code: "NOT_FOUND"},
		{name: "update", as: alice, method: "PATCH", path: "/api/v1/robots/robot$team+ci", status: 200,
			body: `{"disabled":true,"expires_at":"","permissions":[{"project":"team","actions":["pull"]}]}`,
			check: func(t *testing.T, r response) {
				var rb wire.Robot
				r.decodeInto(t, &rb)
				if !rb.Disabled || rb.ExpiresAt != "" || len(rb.Permissions) != 1 || rb.Permissions[0].Actions[0] != "pull" {
					t.Errorf("robot %+v", rb)
				}
			}},
		{name: "update as guest", as: bob, method: "PATCH", path: "/api/v1/robots/robot$team+ci", status: 403, code: "DENIED", body: `{"disabled":false}`},
		{name: "secret", as: alice, method: "POST", path: "/api/v1/robots/robot$team+ci/secret", status: 200},
		{name: "secret as guest", as: bob, method: "POST", path: "/api/v1/robots/robot$team+ci/secret", status: 403, code: "DENIED"},
		{name: "system robots as admin", as: root, method: "GET", path: "/api/v1/robots", status: 200, check: wantNames(robotNames)},
		{name: "system robots as user", as: alice, method: "GET", path: "/api/v1/robots", status: 403, code: "DENIED"},
		{name: "create system robot", as: root, method: "POST", path: "/api/v1/robots", status: 201,
			body: wire.NewRobot{Name: "mirror", Permissions: []wire.Permission{{Project: "*", Actions: []string{"pull"}}}}},
		{name: "create system robot as user", as: alice, method: "POST", path: "/api/v1/robots", status: 403, code: "DENIED",
			body: wire.NewRobot{Name: "mine", Permissions: pull}},
		{name: "system robots after", as: root, method: "GET", path: "/api/v1/robots", status: 200, check: wantNames(robotNames, "robot$mirror")},
		{name: "delete as guest", as: bob, method: "DELETE", path: "/api/v1/robots/robot$team+ci", status: 403, code: "DENIED"},
		{name: "delete", as: alice, method: "DELETE", path: "/api/v1/robots/robot$team+ci", status: 204},
		{name: "delete again", as: alice, method: "DELETE", path: "/api/v1/robots/robot$team+ci", status: 404, code: "NOT_FOUND"},
	})
}

// TestRobotSecretSignsIn checks that the secret shown at creation is the
// robot's working credential, and that /me describes the robot.
func TestRobotSecretSignsIn(t *testing.T) {
	s := world(t)
	r := send(t, s, alice, "POST", "/api/v1/projects/team/robots", wire.NewRobot{Name: "puller",
		Permissions: []wire.Permission{{Project: "team", Actions: []string{"pull"}}}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c wire.CreatedRobot
	r.decodeInto(t, &c)
	robot := caller{c.Name, c.Secret}
	me := send(t, s, robot, "GET", "/api/v1/me", nil)
	if me.status != 200 {
		t.Fatalf("me as robot: %d %s", me.status, me.body)
	}
	var got wire.Me
	me.decodeInto(t, &got)
	want := wire.Me{Kind: "robot", Name: "robot$team+puller", Permissions: []wire.Permission{{Project: "team", Actions: []string{"pull"}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	if r := send(t, s, robot, "GET", "/api/v1/projects/team/members", nil); r.status != 403 && r.status != 404 {
		t.Errorf("a pull-only robot listed members: %d %s", r.status, r.body)
	}
	if r := send(t, s, robot, "POST", "/api/v1/projects/team/robots", wire.NewRobot{Name: "child",
		Permissions: []wire.Permission{{Project: "team", Actions: []string{"pull"}}}}); r.status != 403 && r.status != 404 {
		t.Errorf("a robot created a robot: %d %s", r.status, r.body)
	}
}

func TestRouting(t *testing.T) {
	run(t, []step{
		{name: "unknown path", as: root, method: "GET", path: "/api/v1/nope", status: 404, code: "NOT_FOUND"},
		{name: "wrong method", as: root, method: "PUT", path: "/api/v1/users", status: 405, code: "UNSUPPORTED", check: func(t *testing.T, r response) {
			allow := strings.Split(r.header.Get("Allow"), ", ")
			slices.Sort(allow)
			if diff := cmp.Diff([]string{"GET", "POST"}, allow); diff != "" {
				t.Errorf("Allow: %s", diff)
			}
		}},
		{name: "openapi is public", as: anon, method: "GET", path: "/api/v1/openapi.json", status: 200},
	})
}

// TestRateLimited checks that repeated bad passwords end in 429, as the
// authenticator limits failed logins per account.
func TestRateLimited(t *testing.T) {
	s := world(t)
	var last response
	for range 12 {
		if last = send(t, s, badPass, "GET", "/api/v1/me", nil); last.status == http.StatusTooManyRequests {
			break
		}
	}
	if last.status != http.StatusTooManyRequests || last.errCode() != "TOO_MANY_REQUESTS" || last.header.Get("Retry-After") == "" {
		t.Errorf("after repeated failures: %d %s", last.status, last.body)
	}
	if r := send(t, s, alice, "GET", "/api/v1/me", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("the right password while locked out: %d, want 429", r.status)
	}
}
