package access

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/auth/secret"
	"github.com/berth-registry/berth/internal/meta"
)

func ptr[T any](v T) *T { return &v }

// Every management method refuses a guest (ErrDenied where the guest can
// see the project or the thing is system-level), a limited guest what a
// guest may read, and an outsider with ErrNotFound so names do not leak.
func TestManagementDenials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pull := []meta.RobotPermission{{Project: "priv", Actions: []string{"pull"}}}
	calls := map[string]func(p Principal) error{
		"CreateUser": func(p Principal) error {
			_, err := f.svc.CreateUser(ctx, p, NewUser{Name: "eve", Password: "long-enough"})
			return err
		},
		"GetUser":   func(p Principal) error { _, err := f.svc.GetUser(ctx, p, "admin"); return err },
		"ListUsers": func(p Principal) error { _, err := f.svc.ListUsers(ctx, p, "", 0); return err },
		"UpdateUser": func(p Principal) error {
			_, err := f.svc.UpdateUser(ctx, p, "de", UserChange{Email: ptr("x@y.z")})
			return err
		},
		"UpdateUser self": func(p Principal) error {
			_, err := f.svc.UpdateUser(ctx, p, p.Name, UserChange{SysAdmin: ptr(true)})
			return err
		},
		"DeleteUser":     func(p Principal) error { return f.svc.DeleteUser(ctx, p, "de") },
		"ResetCLISecret": func(p Principal) error { _, err := f.svc.ResetCLISecret(ctx, p, "de"); return err },
		"CreateProject":  func(p Principal) error { _, err := f.svc.CreateProject(ctx, p, "mine", false); return err },
		"GetProject":     func(p Principal) error { _, err := f.svc.GetProject(ctx, p, "priv"); return err },
		"UpdateProject":  func(p Principal) error { _, err := f.svc.UpdateProject(ctx, p, "priv", true); return err },
		"DeleteProject":  func(p Principal) error { return f.svc.DeleteProject(ctx, p, "priv") },
		"PutMember": func(p Principal) error {
			return f.svc.PutMember(ctx, p, "priv", meta.MemberUser, "outsider", ProjectAdmin)
		},
		"DeleteMember": func(p Principal) error { return f.svc.DeleteMember(ctx, p, "priv", meta.MemberUser, "de") },
		"ListMembers":  func(p Principal) error { _, err := f.svc.ListMembers(ctx, p, "priv"); return err },
		"CreateRobot": func(p Principal) error {
			_, _, err := f.svc.CreateRobot(ctx, p, NewRobot{Project: "priv", Name: "x", Permissions: pull})
			return err
		},
		"CreateRobot system": func(p Principal) error {
			_, _, err := f.svc.CreateRobot(ctx, p, NewRobot{Name: "x", Permissions: []meta.RobotPermission{{Project: "priv", Actions: []string{"pull"}}}})
			return err
		},
		"GetRobot":        func(p Principal) error { _, err := f.svc.GetRobot(ctx, p, "robot$priv+pull"); return err },
		"GetRobot system": func(p Principal) error { _, err := f.svc.GetRobot(ctx, p, "robot$all"); return err },
		"ListRobots":      func(p Principal) error { _, err := f.svc.ListRobots(ctx, p, "priv"); return err },
		"ListRobots system": func(p Principal) error {
			_, err := f.svc.ListRobots(ctx, p, "")
			return err
		},
		"UpdateRobot": func(p Principal) error {
			_, err := f.svc.UpdateRobot(ctx, p, "robot$priv+pull", RobotChange{Disabled: ptr(true)})
			return err
		},
		"RegenerateRobotSecret": func(p Principal) error { _, err := f.svc.RegenerateRobotSecret(ctx, p, "robot$priv+pull"); return err },
		"DeleteRobot":           func(p Principal) error { return f.svc.DeleteRobot(ctx, p, "robot$priv+pull") },
	}
	tests := []struct {
		call                                 string
		guest, limitedGuest, outsider, robot string
	}{
		{"CreateUser", "denied", "denied", "denied", "denied"},
		{"GetUser", "denied", "denied", "denied", "denied"},
		{"ListUsers", "denied", "denied", "denied", "denied"},
		{"UpdateUser", "denied", "denied", "denied", "denied"},
		{"UpdateUser self", "denied", "denied", "denied", "denied"},
		{"DeleteUser", "denied", "denied", "denied", "denied"},
		{"ResetCLISecret", "denied", "denied", "denied", "denied"},
		{"CreateProject", "denied", "denied", "denied", "denied"},
		{"GetProject", "ok", "ok", "not found", "ok"},
		{"UpdateProject", "denied", "denied", "not found", "denied"},
		{"DeleteProject", "denied", "denied", "not found", "denied"},
		{"PutMember", "denied", "denied", "not found", "denied"},
		{"DeleteMember", "denied", "denied", "not found", "denied"},
		{"ListMembers", "ok", "denied", "not found", "denied"},
		{"CreateRobot", "denied", "denied", "not found", "denied"},
		{"CreateRobot system", "denied", "denied", "denied", "denied"},
		{"GetRobot", "ok", "denied", "not found", "denied"},
		{"GetRobot system", "denied", "denied", "denied", "denied"},
		{"ListRobots", "ok", "denied", "not found", "denied"},
		{"ListRobots system", "denied", "denied", "denied", "denied"},
		{"UpdateRobot", "denied", "denied", "not found", "denied"},
		{"RegenerateRobotSecret", "denied", "denied", "not found", "denied"},
		{"DeleteRobot", "denied", "denied", "not found", "denied"},
	}
	if len(tests) != len(calls) {
		t.Fatalf("%d rows for %d calls", len(tests), len(calls))
	}
	for _, tt := range tests {
		for who, want := range map[string]string{"gu": tt.guest, "lg": tt.limitedGuest, "outsider": tt.outsider, "pushbot": tt.robot} {
			t.Run(tt.call+" by "+who, func(t *testing.T) {
				n := len(f.events.all)
				err := calls[tt.call](f.p[who])
				if got := classOf(err); got != want {
					t.Fatalf("%s: %v (%s), want %s", tt.call, err, got, want)
				}
				if want == "ok" || len(f.events.all) == n {
					return // reads are not audited
				}
				if ev := f.events.last(); ev.Outcome != "denied" || ev.Actor != f.p[who].Name {
					t.Errorf("audit event %+v, want a denial of %s", ev, f.p[who].Name)
				}
			})
		}
	}
}

func TestLastAdminProtection(t *testing.T) {
	e := newEnv(t, AutoCreateNone)
	ctx := context.Background()
	root := e.user(t, "root", true)
	e.user(t, "bob", false)
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"demote the only admin", func() error {
			_, err := e.svc.UpdateUser(ctx, root, "root", UserChange{SysAdmin: ptr(false)})
			return err
		}, "conflict"},
		{"disable the only admin", func() error {
			_, err := e.svc.UpdateUser(ctx, root, "root", UserChange{Disabled: ptr(true)})
			return err
		}, "conflict"},
		{"delete the only admin", func() error { return e.svc.DeleteUser(ctx, root, "root") }, "conflict"},
		{"a disabled admin does not count", func() error {
			if _, err := e.svc.CreateUser(ctx, root, NewUser{Name: "sleepy", Password: "long-enough", SysAdmin: true}); err != nil {
				return err
			}
			if _, err := e.svc.UpdateUser(ctx, root, "sleepy", UserChange{Disabled: ptr(true)}); err != nil {
				return err
			}
			_, err := e.svc.UpdateUser(ctx, root, "root", UserChange{SysAdmin: ptr(false)})
			return err
		}, "conflict"},
		{"demoting a plain user is fine", func() error {
			_, err := e.svc.UpdateUser(ctx, root, "bob", UserChange{SysAdmin: ptr(false)})
			return err
		}, "ok"},
		{"with a second admin, the first may go", func() error {
			if _, err := e.svc.UpdateUser(ctx, root, "bob", UserChange{SysAdmin: ptr(true)}); err != nil {
				return err
			}
			return e.svc.DeleteUser(ctx, root, "root")
		}, "ok"},
		{"and then bob is the last", func() error {
			return e.svc.DeleteUser(ctx, Principal{Kind: UserKind, Name: "bob", SysAdmin: true}, "bob")
		}, "conflict"},
	}
	for _, s := range steps {
		if got := classOf(s.do()); got != s.want {
			t.Fatalf("%s: %s, want %s", s.name, got, s.want)
		}
	}
}

func TestUsers(t *testing.T) {
	e := newEnv(t, AutoCreateNone)
	ctx := context.Background()
	root := e.user(t, "root", true)
	tests := []struct {
		name string
		u    NewUser
		want string
	}{
		{"ok", NewUser{Name: "alice.b-c_d", Email: "a@example.com", Password: "12345678"}, "ok"},
		{"taken", NewUser{Name: "root", Password: "12345678"}, "already exists"},
		{"upper case", NewUser{Name: "Alice", Password: "12345678"}, "invalid"},
		{"robot-like", NewUser{Name: "robot$x", Password: "12345678"}, "invalid"},
		{"leading dot", NewUser{Name: ".x", Password: "12345678"}, "invalid"},
		{"too long", NewUser{Name: strings.Repeat("a", 65), Password: "12345678"}, "invalid"},
		{"short password", NewUser{Name: "bob", Password: "1234567"}, "invalid"},
		{"bad email", NewUser{Name: "bob", Email: "bob", Password: "12345678"}, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := e.svc.CreateUser(ctx, root, tt.u)
			if got := classOf(err); got != tt.want {
				t.Fatalf("CreateUser: %v, want %s", err, tt.want)
			}
			if err == nil && (u.PasswordHash != "" || u.ID == 0) {
				t.Errorf("returned user %+v: want an ID and no hash", u)
			}
		})
	}

	alice := Principal{Kind: UserKind, Name: "alice.b-c_d"}
	if _, err := e.svc.UpdateUser(ctx, alice, alice.Name, UserChange{Password: ptr("new password")}); err != nil {
		t.Fatalf("change own password: %v", err)
	}
	stored, err := e.store.GetUser(ctx, alice.Name)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := secret.VerifyPassword(stored.PasswordHash, "new password"); !ok || err != nil {
		t.Errorf("new password does not verify: %v %v", ok, err)
	}
	sec, err := e.svc.ResetCLISecret(ctx, alice, alice.Name)
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ = e.store.GetUser(ctx, alice.Name); !secret.VerifySecret(stored.CLISecretHash, sec) {
		t.Error("the CLI secret returned does not match the stored hash")
	}
	if ev := e.events.last(); ev.Action != "user.secret" || strings.Contains(ev.Detail+ev.Resource, sec) {
		t.Errorf("audit event %+v: want user.secret without the secret", ev)
	}
	got, err := e.svc.GetUser(ctx, alice, alice.Name)
	if err != nil || got.PasswordHash != "" || got.CLISecretHash != "" {
		t.Errorf("GetUser self = %+v, %v; want the user without hashes", got, err)
	}
	us, err := e.svc.ListUsers(ctx, root, "", 1)
	if err != nil || len(us) != 1 || us[0].Name != alice.Name || us[0].PasswordHash != "" {
		t.Errorf("ListUsers(limit 1) = %+v, %v; want alice only, without hash", us, err)
	}
}

func TestEnsureAdmin(t *testing.T) {
	ctx := context.Background()
	t.Run("generated", func(t *testing.T) {
		e := newEnv(t, AutoCreateNone)
		pw, created, err := e.svc.EnsureAdmin(ctx, "")
		if err != nil || !created || len(pw) < MinPasswordLength {
			t.Fatalf("EnsureAdmin = %q, %v, %v; want a generated password", pw, created, err)
		}
		u, err := e.store.GetUser(ctx, AdminUser)
		if err != nil || !u.SysAdmin {
			t.Fatalf("admin = %+v, %v", u, err)
		}
		if ok, _ := secret.VerifyPassword(u.PasswordHash, pw); !ok {
			t.Error("the generated password does not verify")
		}
		if pw2, created, err := e.svc.EnsureAdmin(ctx, "another-password"); pw2 != "" || created || err != nil {
			t.Errorf("second EnsureAdmin = %q, %v, %v; want nothing done", pw2, created, err)
		}
		if ev := e.events.last(); ev.Action != "user.create" || ev.ActorKind != "system" || strings.Contains(ev.Detail, pw) {
			t.Errorf("audit event %+v", ev)
		}
	})
	t.Run("given", func(t *testing.T) {
		e := newEnv(t, AutoCreateNone)
		pw, created, err := e.svc.EnsureAdmin(ctx, "given-password")
		if err != nil || !created || pw != "" {
			t.Fatalf("EnsureAdmin = %q, %v, %v; want created, nothing generated", pw, created, err)
		}
		u, _ := e.store.GetUser(ctx, AdminUser)
		if ok, _ := secret.VerifyPassword(u.PasswordHash, "given-password"); !ok {
			t.Error("the given password does not verify")
		}
	})
	t.Run("too short", func(t *testing.T) {
		e := newEnv(t, AutoCreateNone)
		if _, _, err := e.svc.EnsureAdmin(ctx, "short"); classOf(err) != "invalid" {
			t.Errorf("EnsureAdmin(short) = %v, want invalid", err)
		}
	})
}

func TestProjects(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	names := func(ps []meta.Project) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	list := []struct {
		who   string
		after string
		limit int
		want  []string
	}{
		{"admin", "", 0, []string{"other", "priv", "pub"}},
		{"admin", "other", 1, []string{"priv"}},
		{"gu", "", 0, []string{"priv", "pub"}},
		{"groupie", "", 0, []string{"priv", "pub"}},
		{"outsider", "", 0, []string{"pub"}},
		{"anonymous", "", 0, []string{"pub"}},
		{"pullbot", "", 0, []string{"priv", "pub"}},
		{"sysrobot", "", 0, []string{"other", "priv", "pub"}},
		{"expired", "", 0, nil},
	}
	for _, tt := range list {
		t.Run("list by "+tt.who, func(t *testing.T) {
			ps, err := f.svc.ListProjects(ctx, f.p[tt.who], tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, names(ps)); d != "" {
				t.Errorf("projects (-want +got):\n%s", d)
			}
		})
	}
	for _, bad := range []string{"a/b", "UP", "-x", "", "a..b"} {
		if _, err := f.svc.CreateProject(ctx, f.p["admin"], bad, false); classOf(err) != "invalid" {
			t.Errorf("CreateProject(%q) = %v, want invalid", bad, err)
		}
	}
	pa := f.p["pa"]
	if p, err := f.svc.UpdateProject(ctx, pa, "priv", true); err != nil || !p.Public {
		t.Fatalf("UpdateProject by its admin = %+v, %v", p, err)
	}
	// Public now: the outsider sees it, and may pull at once.
	if got, _ := f.svc.Authorize(ctx, f.p["outsider"], "priv/app", []Action{Pull}); !Has(got, Pull) {
		t.Error("outsider cannot pull from priv after it became public")
	}
	if err := f.svc.PutMember(ctx, pa, "priv", meta.MemberUser, "nobody", Guest); classOf(err) != "invalid" {
		t.Errorf("PutMember of a missing user = %v, want invalid", err)
	}
	if err := f.svc.PutMember(ctx, pa, "priv", meta.MemberUser, "outsider", "owner"); classOf(err) != "invalid" {
		t.Errorf("PutMember with an unknown role = %v, want invalid", err)
	}
	if err := f.svc.PutMember(ctx, pa, "priv", meta.MemberUser, "outsider", "Limited-Guest"); err != nil {
		t.Errorf("PutMember with a role spelled loosely: %v", err)
	}
	ms, err := f.svc.ListMembers(ctx, pa, "priv")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, string(m.Kind)+":"+m.Name+"="+m.Role)
	}
	want := []string{"user:de=developer", "user:gu=guest", "user:lg=limitedGuest", "user:ma=maintainer",
		"user:outsider=limitedGuest", "user:pa=projectAdmin", "group:team=developer"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("members (-want +got):\n%s", d)
	}
	if err := f.svc.DeleteMember(ctx, pa, "priv", meta.MemberGroup, "team"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Authorize(ctx, f.p["groupie"], "priv/app", []Action{Push}); got != nil {
		t.Errorf("groupie still has %v after the group was removed", got)
	}
	if err := f.svc.DeleteProject(ctx, pa, "priv"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.GetProject(ctx, f.p["admin"], "priv"); classOf(err) != "not found" {
		t.Errorf("GetProject after delete = %v", err)
	}
}

func TestRobots(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.clock.Now()
	perm := func(project string, actions ...string) []meta.RobotPermission {
		return []meta.RobotPermission{{Project: project, Actions: actions}}
	}
	tests := []struct {
		name string
		who  string
		r    NewRobot
		want string
	}{
		{"maintainer, pull", "ma", NewRobot{Project: "priv", Name: "pull2", Permissions: perm("priv", "PULL", "pull")}, "ok"},
		{"admin, system", "admin", NewRobot{Name: "mirror", Permissions: perm("*", "pull", "list")}, "ok"},
		{"admin, system on one project", "admin", NewRobot{Name: "one", Permissions: perm("pub", "pull")}, "ok"},
		{"taken", "ma", NewRobot{Project: "priv", Name: "pull", Permissions: perm("priv", "pull")}, "already exists"},
		{"developer may not", "de", NewRobot{Project: "priv", Name: "d", Permissions: perm("priv", "pull")}, "denied"},
		{"project admin, system robot", "pa", NewRobot{Name: "s", Permissions: perm("*", "pull")}, "denied"},
		{"manage action", "pa", NewRobot{Project: "priv", Name: "m", Permissions: perm("priv", "manage-members")}, "invalid"},
		{"unknown action", "pa", NewRobot{Project: "priv", Name: "m", Permissions: perm("priv", "fly")}, "invalid"},
		{"no actions", "pa", NewRobot{Project: "priv", Name: "m", Permissions: perm("priv")}, "invalid"},
		{"no permissions", "pa", NewRobot{Project: "priv", Name: "m"}, "invalid"},
		{"bad name", "pa", NewRobot{Project: "priv", Name: "Bad+x", Permissions: perm("priv", "pull")}, "invalid"},
		{"bad pattern", "pa", NewRobot{Project: "priv", Name: "m",
			Permissions: []meta.RobotPermission{{Project: "priv", Repositories: []string{"["}, Actions: []string{"pull"}}}}, "invalid"},
		{"past expiry", "pa", NewRobot{Project: "priv", Name: "m", Permissions: perm("priv", "pull"), ExpiresAt: now.Add(-time.Second)}, "invalid"},
		{"missing project", "admin", NewRobot{Project: "nope", Name: "m", Permissions: perm("nope", "pull")}, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, sec, err := f.svc.CreateRobot(ctx, f.p[tt.who], tt.r)
			if got := classOf(err); got != tt.want {
				t.Fatalf("CreateRobot: %v, want %s", err, tt.want)
			}
			ev := f.events.last()
			if ev.Action != "robot.create" {
				t.Errorf("audit action %q, want robot.create", ev.Action)
			}
			if err != nil {
				return
			}
			stored, gerr := f.store.GetRobot(ctx, r.Name)
			if gerr != nil || !secret.VerifySecret(stored.SecretHash, sec) {
				t.Fatalf("stored robot %+v, %v: the secret does not verify", stored, gerr)
			}
			if strings.Contains(ev.Detail+ev.Resource, sec) {
				t.Error("the audit event contains the secret")
			}
		})
	}
	r, err := f.svc.GetRobot(ctx, f.p["gu"], "robot$priv+pull2")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(perm("priv", "pull"), r.Permissions); d != "" || r.SecretHash != "" {
		t.Errorf("normalised permissions (-want +got):\n%s (hash %q)", d, r.SecretHash)
	}

	ma := f.p["ma"]
	sec, err := f.svc.RegenerateRobotSecret(ctx, ma, "robot$priv+pull2")
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := f.store.GetRobot(ctx, "robot$priv+pull2"); !secret.VerifySecret(stored.SecretHash, sec) {
		t.Error("the regenerated secret does not verify")
	}
	if ev := f.events.last(); ev.Action != "robot.secret" || ev.Project != "priv" || ev.Outcome != "success" {
		t.Errorf("audit event %+v", ev)
	}
	exp := now.Add(time.Hour)
	up, err := f.svc.UpdateRobot(ctx, ma, "robot$priv+pull2", RobotChange{Description: ptr("cluster pulls"),
		Permissions: &[]meta.RobotPermission{{Project: "priv", Repositories: []string{"app/*"}, Actions: []string{"push", "pull"}}},
		ExpiresAt:   &exp, Disabled: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	want := meta.Robot{Description: "cluster pulls", ExpiresAt: exp, Disabled: true,
		Permissions: []meta.RobotPermission{{Project: "priv", Repositories: []string{"app/*"}, Actions: []string{"pull", "push"}}}}
	gotFields := meta.Robot{Description: up.Description, ExpiresAt: up.ExpiresAt, Disabled: up.Disabled, Permissions: up.Permissions}
	if d := cmp.Diff(want, gotFields); d != "" {
		t.Errorf("updated robot (-want +got):\n%s", d)
	}
	if _, err := f.svc.UpdateRobot(ctx, ma, "robot$priv+pull2", RobotChange{Permissions: &[]meta.RobotPermission{
		{Project: "other", Actions: []string{"pull"}}}}); classOf(err) != "invalid" {
		t.Errorf("moving a project robot's permission to another project: %v, want invalid", err)
	}
	rs, err := f.svc.ListRobots(ctx, f.p["gu"], "priv")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if d := cmp.Diff([]string{"robot$priv+ci", "robot$priv+old", "robot$priv+pull", "robot$priv+pull2"}, names); d != "" {
		t.Errorf("robots of priv (-want +got):\n%s", d)
	}
	if err := f.svc.DeleteRobot(ctx, ma, "robot$priv+pull2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.GetRobot(ctx, ma, "robot$priv+pull2"); classOf(err) != "not found" {
		t.Errorf("GetRobot after delete: %v", err)
	}
}

func TestOnboardOIDC(t *testing.T) {
	e := newEnv(t, AutoCreateNone)
	ctx := context.Background()
	e.user(t, "root", true)
	e.user(t, "alice", false) // a local account the identity must not take over
	iss := "https://idp.example.com"
	u, err := e.svc.OnboardOIDC(ctx, OIDCIdentity{Issuer: iss, Subject: "s1", Username: "alice", Email: "alice@example.com", Groups: []string{"dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "alice-2" || u.Issuer != iss || u.Subject != "s1" || u.SysAdmin {
		t.Errorf("first sign-in made %+v; want alice-2", u)
	}
	u2, err := e.svc.OnboardOIDC(ctx, OIDCIdentity{Issuer: iss, Subject: "s1", Username: "renamed", Email: "new@example.com",
		Groups: []string{"ops"}, Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{u2.ID, u2.Name, u2.Email, u2.Groups, u2.SysAdmin}
	if d := cmp.Diff([]any{u.ID, "alice-2", "new@example.com", []string{"ops"}, true}, got); d != "" {
		t.Errorf("second sign-in (-want +got):\n%s", d)
	}
	u3, err := e.svc.OnboardOIDC(ctx, OIDCIdentity{Issuer: iss, Subject: "s2", Username: "Weird Name!"})
	if err != nil || u3.Name != "weird-name-" {
		t.Errorf("odd name gave %+v, %v", u3, err)
	}
	if _, err := e.svc.UpdateUser(ctx, sys, "alice-2", UserChange{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.OnboardOIDC(ctx, OIDCIdentity{Issuer: iss, Subject: "s1", Username: "alice"}); classOf(err) != "denied" {
		t.Errorf("disabled user signed in: %v", err)
	}
}

// With an admin group configured, leaving it at the provider takes the
// system administrator flag away at the next sign-in, except from the last
// enabled system administrator; without one, the flag is left alone.
func TestOnboardOIDCAdminGroup(t *testing.T) {
	iss := "https://idp.example.com"
	tests := []struct {
		name      string
		localRoot bool // another enabled system administrator exists
		managed   bool
		want      bool
	}{
		{"managed: demoted", true, true, false},
		{"managed: the last admin keeps the flag", false, true, true},
		{"not managed: left alone", true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, AutoCreateNone)
			ctx := context.Background()
			if tc.localRoot {
				e.user(t, "root", true)
			}
			if _, err := e.svc.OnboardOIDC(ctx, OIDCIdentity{Issuer: iss, Subject: "s1", Username: "ada",
				Admin: true, AdminManaged: true}); err != nil {
				t.Fatal(err)
			}
			u, err := e.svc.OnboardOIDC(ctx, OIDCIdentity{Issuer: iss, Subject: "s1", Username: "ada",
				Admin: false, AdminManaged: tc.managed})
			if err != nil {
				t.Fatal(err)
			}
			if u.SysAdmin != tc.want {
				t.Errorf("SysAdmin = %v, want %v", u.SysAdmin, tc.want)
			}
			stored, err := e.store.GetUser(ctx, "ada")
			if err != nil || stored.SysAdmin != tc.want {
				t.Errorf("stored SysAdmin = %v (%v), want %v", stored.SysAdmin, err, tc.want)
			}
		})
	}
}
