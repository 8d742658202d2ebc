package authn_test

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// world is the cast of the authorization tests: projects alpha and beta
// (private), pub (public) and scratch (private, where every user may push),
// users holding each role in alpha, an outsider, and robots.
type world struct {
	*env
	callers map[string]caller
	// alpha is the image in alpha/app:v1 (also in beta/app and pub/app).
	alpha, beta, pub image
}

var roleUsers = []struct {
	name string
	role access.Role
}{
	{"pa", access.ProjectAdmin},
	{"maint", access.Maintainer},
	{"dev", access.Developer},
	{"guest", access.Guest},
	{"lguest", access.LimitedGuest},
}

// newWorld starts a server and creates the cast and their images.
func newWorld(t *testing.T) *world {
	t.Helper()
	e := newEnv(t)
	ctx := context.Background()
	w := &world{env: e, callers: map[string]caller{"admin": admin, "anonymous": {name: "anonymous"}}}
	for _, p := range []struct {
		name   string
		public bool
	}{{"alpha", false}, {"beta", false}, {"pub", true}, {"scratch", false}} {
		if _, err := e.access.CreateProject(ctx, sysAdmin, p.name, p.public); err != nil {
			t.Fatalf("create project %s: %v", p.name, err)
		}
	}
	addUser := func(name string) {
		pass := name + "-password"
		if _, err := e.access.CreateUser(ctx, sysAdmin, access.NewUser{Name: name, Password: pass}); err != nil {
			t.Fatalf("create user %s: %v", name, err)
		}
		w.callers[name] = caller{name: name, user: name, pass: pass}
		if err := e.access.PutMember(ctx, sysAdmin, "scratch", meta.MemberUser, name, access.Developer); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range roleUsers {
		addUser(u.name)
		if err := e.access.PutMember(ctx, sysAdmin, "alpha", meta.MemberUser, u.name, u.role); err != nil {
			t.Fatalf("member %s: %v", u.name, err)
		}
	}
	addUser("outsider")
	robots := []struct {
		key     string
		project string
		name    string
		perms   []meta.RobotPermission
	}{
		{"alpha-puller", "alpha", "puller", []meta.RobotPermission{{Project: "alpha", Actions: []string{"pull"}}}},
		{"alpha-pusher", "alpha", "pusher", []meta.RobotPermission{{Project: "alpha", Repositories: []string{"app", "app-*"}, Actions: []string{"pull", "push"}}}},
		{"beta-ci", "beta", "ci", []meta.RobotPermission{{Project: "beta", Actions: []string{"pull", "push", "list"}}}},
		{"sys-all", "", "all", []meta.RobotPermission{{Project: "*", Actions: []string{"pull", "push", "delete", "list"}}}},
	}
	for _, r := range robots {
		rb, secret, err := e.access.CreateRobot(ctx, sysAdmin, access.NewRobot{Project: r.project, Name: r.name, Permissions: r.perms})
		if err != nil {
			t.Fatalf("create robot %s: %v", r.key, err)
		}
		w.callers[r.key] = caller{name: r.key, user: rb.Name, pass: secret}
	}
	w.alpha, w.beta, w.pub = newImage(t, "alpha"), newImage(t, "beta"), newImage(t, "pub")
	e.mustPush(t, "alpha/app", "v1", w.alpha)
	e.mustPush(t, "beta/app", "v1", w.beta)
	e.mustPush(t, "pub/app", "v1", w.pub)
	return w
}
