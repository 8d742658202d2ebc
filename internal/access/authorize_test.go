package access

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/meta"
)

// fixture is a registry with three projects and a principal of every kind:
//
//	pub    public,  no members
//	priv   private, pa/ma/de/gu/lg hold each role; group "team" is developer
//	other  private, no members
type fixture struct {
	*env
	p map[string]Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := newEnv(t, AutoCreateNone)
	f := &fixture{env: e, p: map[string]Principal{"anonymous": AnonymousPrincipal}}
	e.project(t, "pub", true)
	e.project(t, "priv", false)
	e.project(t, "other", false)
	f.p["admin"] = e.user(t, "admin", true)
	for name, role := range map[string]Role{"pa": ProjectAdmin, "ma": Maintainer, "de": Developer, "gu": Guest, "lg": LimitedGuest} {
		f.p[name] = e.user(t, name, false)
		e.member(t, "priv", meta.MemberUser, name, role)
	}
	f.p["outsider"] = e.user(t, "outsider", false)
	f.p["groupie"] = e.user(t, "groupie", false, "team", "unrelated")
	e.member(t, "priv", meta.MemberGroup, "team", Developer)

	all := []string{"pull", "push", "delete", "list", "read-scan"}
	f.p["sysrobot"] = e.robot(t, NewRobot{Name: "all", Permissions: []meta.RobotPermission{{Project: "*", Actions: all}}})
	f.p["pullbot"] = e.robot(t, NewRobot{Project: "priv", Name: "pull",
		Permissions: []meta.RobotPermission{{Project: "priv", Actions: []string{"pull"}}}})
	f.p["pushbot"] = e.robot(t, NewRobot{Project: "priv", Name: "ci",
		Permissions: []meta.RobotPermission{{Project: "priv", Repositories: []string{"app/*"}, Actions: []string{"push", "pull"}}}})
	f.p["expired"] = e.robot(t, NewRobot{Project: "priv", Name: "old", ExpiresAt: t0.Add(time.Hour),
		Permissions: []meta.RobotPermission{{Project: "priv", Actions: all}}})
	// Past the expired robot's expiry (and every cached fact).
	e.clock.Advance(2 * time.Hour)
	return f
}

// acts parses a space-separated action list ("" for none).
func acts(s string) []Action {
	var out []Action
	for _, f := range strings.Fields(s) {
		out = append(out, Action(f))
	}
	return out
}

const (
	allActs   = "pull push delete list read-scan read-members read-audit manage-policies manage-robots manage-members manage-project"
	robotActs = "pull push delete list read-scan"
)

func TestAuthorizeMatrix(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		who, repo, want string
	}{
		{"anonymous", "priv/app/x", ""},
		{"anonymous", "pub/app/x", "pull list"},
		{"anonymous", "other/app/x", ""},
		{"admin", "priv/app/x", allActs},
		{"admin", "other/app/x", allActs},
		{"admin", "missing/app", strings.Replace(allActs, "push ", "", 1)},
		{"pa", "priv/app/x", allActs},
		{"ma", "priv/app/x", "pull push delete list read-scan read-members read-audit manage-policies manage-robots"},
		{"de", "priv/app/x", "pull push list read-scan read-members"},
		{"gu", "priv/app/x", "pull list read-scan read-members"},
		{"lg", "priv/app/x", "pull"},
		{"pa", "pub/app/x", "pull list"},
		{"lg", "pub/app/x", "pull list"},
		{"pa", "other/app/x", ""},
		{"outsider", "priv/app/x", ""},
		{"outsider", "pub/app/x", "pull list"},
		{"groupie", "priv/app/x", "pull push list read-scan read-members"},
		{"groupie", "other/app/x", ""},
		{"sysrobot", "priv/app/x", robotActs},
		{"sysrobot", "other/lib", robotActs},
		{"sysrobot", "missing/app", ""},
		{"pullbot", "priv/app/x", "pull"},
		{"pullbot", "priv/lib", "pull"},
		{"pullbot", "pub/app/x", "pull list"},
		{"pullbot", "other/app/x", ""},
		{"pushbot", "priv/app/x", "pull push"},
		{"pushbot", "priv/app/x/deeper", ""},
		{"pushbot", "priv/lib", ""},
		{"pushbot", "other/app/x", ""},
		{"expired", "priv/app/x", ""},
		{"expired", "pub/app/x", ""},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.who+" on "+tt.repo, func(t *testing.T) {
			got, err := f.svc.Authorize(ctx, f.p[tt.who], tt.repo, Actions)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(acts(tt.want), got); d != "" {
				t.Errorf("granted (-want +got):\n%s", d)
			}
			// Asking for a subset answers the intersection.
			got, err = f.svc.Authorize(ctx, f.p[tt.who], tt.repo, []Action{Delete, Pull})
			if err != nil {
				t.Fatal(err)
			}
			var want []Action
			for _, a := range acts(tt.want) {
				if a == Pull || a == Delete {
					want = append(want, a)
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("granted of [delete pull] (-want +got):\n%s", d)
			}
		})
	}
}

func TestCanMountFrom(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		who, source string
		want        bool
	}{
		{"admin", "other/app", true},
		{"de", "priv/app", true},
		{"lg", "priv/app", true},
		{"de", "other/app", false},
		{"outsider", "priv/app", false},
		{"anonymous", "pub/app", true},
		{"anonymous", "priv/app", false},
		{"pullbot", "priv/app", true},
		{"pullbot", "other/app", false},
		{"pushbot", "priv/lib", false},
		{"sysrobot", "other/app", true},
		{"expired", "priv/app", false},
	}
	for _, tt := range tests {
		t.Run(tt.who+" from "+tt.source, func(t *testing.T) {
			if got := f.svc.CanMountFrom(context.Background(), f.p[tt.who], tt.source); got != tt.want {
				t.Errorf("CanMountFrom = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRepoFilter(t *testing.T) {
	f := newFixture(t)
	repos := []string{"other/a", "priv/app/x", "priv/lib", "pub/a"}
	tests := []struct {
		who  string
		want []string
	}{
		{"anonymous", []string{"pub/a"}},
		{"admin", repos},
		{"gu", []string{"priv/app/x", "priv/lib", "pub/a"}},
		{"lg", []string{"pub/a"}}, // limited guests pull but do not list
		{"outsider", []string{"pub/a"}},
		{"pullbot", []string{"priv/app/x", "priv/lib", "pub/a"}},
		{"pushbot", []string{"priv/app/x", "pub/a"}},
		{"expired", nil},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			keep := f.svc.RepoFilter(context.Background(), f.p[tt.who])
			var got []string
			for _, r := range repos {
				if keep(r) {
					got = append(got, r)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("visible (-want +got):\n%s", d)
			}
		})
	}
}

// A project robot whose stored permissions name another project (as if
// written around the service) still gets nothing there.
func TestProjectRobotConfined(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	priv, err := f.store.GetProject(ctx, "priv")
	if err != nil {
		t.Fatal(err)
	}
	rogue := Principal{Kind: RobotKind, Name: "robot$priv+rogue", ProjectID: priv.ID, Permissions: []meta.RobotPermission{
		{Project: "other", Actions: []string{"pull", "push"}}, {Project: "*", Actions: []string{"pull", "push"}},
	}}
	got, err := f.svc.Authorize(ctx, rogue, "other/app", Actions)
	if err != nil || got != nil {
		t.Errorf("Authorize(other/app) = %v, %v; want nothing", got, err)
	}
	_, _, err = f.svc.CreateRobot(ctx, f.p["pa"], NewRobot{Project: "priv", Name: "sneaky",
		Permissions: []meta.RobotPermission{{Project: "other", Actions: []string{"pull"}}}})
	if classOf(err) != "invalid" {
		t.Errorf("create a priv robot with a permission on other: %v, want invalid", err)
	}
	_, _, err = f.svc.CreateRobot(ctx, f.p["pa"], NewRobot{Project: "priv", Name: "star",
		Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}})
	if classOf(err) != "invalid" {
		t.Errorf("create a priv robot with a permission on *: %v, want invalid", err)
	}
}

func TestAutoCreate(t *testing.T) {
	tests := []struct {
		policy   AutoCreate
		who      string
		wantPush bool
	}{
		{AutoCreateNone, "admin", false},
		{AutoCreateNone, "user", false},
		{AutoCreateAdmins, "admin", true},
		{AutoCreateAdmins, "user", false},
		{AutoCreateAdmins, "robot", false},
		{AutoCreateUsers, "admin", true},
		{AutoCreateUsers, "user", true},
		{AutoCreateUsers, "robot", false},
		{AutoCreateUsers, "anonymous", false},
		{"", "admin", true}, // default: admins
		{"", "user", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy)+" "+tt.who, func(t *testing.T) {
			e := newEnv(t, tt.policy)
			ctx := context.Background()
			p := map[string]Principal{
				"admin": e.user(t, "root", true), "user": e.user(t, "alice", false), "anonymous": AnonymousPrincipal,
				"robot": e.robot(t, NewRobot{Name: "ci", Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"push", "pull"}}}}),
			}[tt.who]
			got, err := e.svc.Authorize(ctx, p, "fresh/app", []Action{Pull, Push})
			if err != nil {
				t.Fatal(err)
			}
			if Has(got, Push) != tt.wantPush {
				t.Fatalf("granted %v; want push %v", got, tt.wantPush)
			}
			proj, err := e.store.GetProject(ctx, "fresh")
			if created := err == nil; created != tt.wantPush {
				t.Fatalf("project created = %v (%v), want %v", created, err, tt.wantPush)
			}
			if !tt.wantPush {
				return
			}
			if proj.Public || proj.CreatedBy != p.Name {
				t.Errorf("project %+v, want private, created by %s", proj, p.Name)
			}
			ms, err := e.store.ListMembers(ctx, proj.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := []meta.Member{{ProjectID: proj.ID, Kind: meta.MemberUser, Name: p.Name, Role: string(ProjectAdmin)}}
			if d := cmp.Diff(want, ms, cmpIgnoreCreated); d != "" {
				t.Errorf("members (-want +got):\n%s", d)
			}
			if ev := e.events.last(); ev.Action != "project.create" || ev.Outcome != "success" || ev.Actor != p.Name {
				t.Errorf("last audit event %+v, want project.create by %s", ev, p.Name)
			}
		})
	}
}

var cmpIgnoreCreated = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().String() == ".CreatedAt"
}, cmp.Ignore())

// Auto-create never makes a project of an invalid name, and a pull never
// creates anything.
func TestAutoCreateOnlyValidPush(t *testing.T) {
	e := newEnv(t, AutoCreateUsers)
	ctx := context.Background()
	u := e.user(t, "alice", false)
	if got, err := e.svc.Authorize(ctx, u, "fresh/app", []Action{Pull}); err != nil || got != nil {
		t.Errorf("pull of a missing project = %v, %v; want nothing", got, err)
	}
	if got, err := e.svc.Authorize(ctx, u, "Bad_/app", []Action{Push}); err != nil || got != nil {
		t.Errorf("push to an invalid project = %v, %v; want nothing", got, err)
	}
	ps, err := e.store.ListProjects(ctx, "", 0)
	if err != nil || len(ps) != 0 {
		t.Errorf("projects %v, %v; want none", ps, err)
	}
}

// Facts are cached for 2 s: a change written around the service shows
// in Authorize only once they are stale (management checks read fresh
// facts); a change through the service shows at once.
func TestFactsCache(t *testing.T) {
	e := newEnv(t, AutoCreateNone)
	ctx := context.Background()
	proj := e.project(t, "team", false)
	bob := e.user(t, "bob", false)
	carol := e.user(t, "carol", false)
	check := func(p Principal, want string) {
		t.Helper()
		got, err := e.svc.Authorize(ctx, p, "team/app", []Action{Pull, Push})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(acts(want), got); d != "" {
			t.Errorf("%s granted (-want +got):\n%s", p.Name, d)
		}
	}
	check(bob, "")
	if err := e.store.PutMember(ctx, meta.Member{ProjectID: proj.ID, Kind: meta.MemberUser, Name: "bob", Role: "developer"}); err != nil {
		t.Fatal(err)
	}
	check(bob, "")
	// Management reads fresh facts.
	if _, err := e.svc.ListMembers(ctx, bob, "team"); err != nil {
		t.Errorf("ListMembers by a developer just added: %v", err)
	}
	e.clock.Advance(1999 * time.Millisecond)
	check(bob, "")
	e.clock.Advance(time.Millisecond)
	check(bob, "pull push")

	check(carol, "")
	e.member(t, "team", meta.MemberUser, "carol", Guest)
	check(carol, "pull")
}
