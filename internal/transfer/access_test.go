package transfer_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth/secret"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/postgres"
	"github.com/berth-registry/berth/internal/pgtest"
	"github.com/berth-registry/berth/internal/transfer"
	gocmp "github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Credentials of the seeded accounts, checked against the loaded hashes.
const (
	adminPassword    = "source admin password"
	dstAdminPassword = "destination's first-start password"
	alicePassword    = "alice's password"
	robotSecret      = "robot secret of team ci"
)

// credentials are the hashes seedAccess stored, made once: argon2id is slow
// on purpose.
type credentials struct {
	admin, dstAdmin, alice, aliceCLI, robot string
}

func hashCredentials(t *testing.T) credentials {
	t.Helper()
	var c credentials
	for _, h := range []struct {
		dst *string
		pw  string
	}{{&c.admin, adminPassword}, {&c.dstAdmin, dstAdminPassword}, {&c.alice, alicePassword}} {
		var err error
		if *h.dst, err = secret.HashPassword(h.pw); err != nil {
			t.Fatal(err)
		}
	}
	c.aliceCLI, c.robot = secret.HashSecret("alice cli secret"), secret.HashSecret(robotSecret)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seedAccess gives the source three users (the admin, a local user with a
// CLI secret, a disabled OIDC user), two projects with user and group
// members, a project robot and a system robot, and an audit log in which
// two entries are identical.
func seedAccess(t *testing.T, m meta.Store, c credentials) {
	t.Helper()
	ctx := context.Background()
	users := []meta.User{
		{Name: "admin", PasswordHash: c.admin, SysAdmin: true, CreatedAt: t0, UpdatedAt: t0},
		{Name: "alice", Email: "alice@example.com", PasswordHash: c.alice, CLISecretHash: c.aliceCLI,
			CreatedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(2 * time.Hour), LastLoginAt: t0.Add(3 * time.Hour)},
		{Name: "bob", Issuer: "https://idp.example.com", Subject: "b-123", Groups: []string{"devs", "ops"},
			Disabled: true, CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)},
	}
	for i := range users {
		must(t, m.CreateUser(ctx, &users[i]))
	}
	team := &meta.Project{Name: "team", Public: true, CreatedAt: t0.Add(time.Second), CreatedBy: "alice"}
	ops := &meta.Project{Name: "ops", CreatedAt: t0.Add(2 * time.Second), CreatedBy: "admin"}
	must(t, m.CreateProject(ctx, team))
	must(t, m.CreateProject(ctx, ops))
	for _, mb := range []meta.Member{
		{ProjectID: team.ID, Kind: meta.MemberUser, Name: "alice", Role: "maintainer", CreatedAt: t0.Add(4 * time.Second)},
		{ProjectID: team.ID, Kind: meta.MemberGroup, Name: "devs", Role: "developer", CreatedAt: t0.Add(5 * time.Second)},
		{ProjectID: ops.ID, Kind: meta.MemberUser, Name: "bob", Role: "guest", CreatedAt: t0.Add(6 * time.Second)},
	} {
		must(t, m.PutMember(ctx, mb))
	}
	robots := []meta.Robot{
		{Name: "robot$team+ci", ProjectID: team.ID, Description: "CI pushes", SecretHash: c.robot,
			Permissions: []meta.RobotPermission{{Project: "team", Repositories: []string{"app*"}, Actions: []string{"pull", "push"}}},
			ExpiresAt:   t0.Add(365 * 24 * time.Hour), CreatedAt: t0.Add(7 * time.Second), CreatedBy: "alice",
			LastUsedAt: t0.Add(8 * time.Hour)},
		{Name: "robot$mirror", Description: "pulls everything", SecretHash: secret.HashSecret("mirror"),
			Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}, Disabled: true,
			CreatedAt: t0.Add(8 * time.Second), CreatedBy: "admin"},
	}
	for i := range robots {
		must(t, m.CreateRobot(ctx, &robots[i]))
	}
	login := meta.AuditEvent{At: t0.Add(9 * time.Second), ActorKind: "user", Actor: "alice", Remote: "10.0.0.7",
		Action: "login", Outcome: "failure", Detail: "bad password"}
	must(t, m.AppendAudit(ctx, []meta.AuditEvent{
		{At: t0.Add(time.Second), ActorKind: "user", Actor: "admin", Action: "project.create", Project: "team",
			Resource: "team", Outcome: "success"},
		login, login,
		{At: t0.Add(10 * time.Second), ActorKind: "robot", Actor: "robot$team+ci", Action: "artifact.push",
			Project: "team", Resource: "team/app:v1", Outcome: "success"},
	}))
}

// seedDestination is what a destination may hold before a transfer: the
// admin its first start created, a project made from an existing
// repository (ops, private there but with another ID), a project of its
// own, and an audit event of its own.
func seedDestination(t *testing.T, m meta.Store, c credentials) {
	t.Helper()
	ctx := context.Background()
	must(t, m.CreateUser(ctx, &meta.User{Name: "admin", PasswordHash: c.dstAdmin, SysAdmin: true,
		CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour)}))
	must(t, m.CreateProject(ctx, &meta.Project{Name: "local", CreatedAt: t0.Add(-time.Hour)}))
	must(t, m.CreateProject(ctx, &meta.Project{Name: "ops", Public: true, CreatedAt: t0.Add(-time.Hour)}))
	must(t, m.AppendAudit(ctx, []meta.AuditEvent{{At: t0.Add(-time.Hour), ActorKind: "user", Actor: "admin",
		Action: "login", Outcome: "success"}}))
}

// accessState is every access record of a store, IDs included, as the
// store's own list methods return them.
type accessState struct {
	Users    []meta.User
	Projects []meta.Project
	Members  map[string][]meta.Member // by project name
	Robots   []meta.Robot
	Audit    []meta.AuditEvent
}

func readAccess(t *testing.T, m meta.Store) accessState {
	t.Helper()
	ctx := context.Background()
	var (
		s   accessState
		err error
	)
	s.Users, err = m.ListUsers(ctx, "", 0)
	must(t, err)
	s.Projects, err = m.ListProjects(ctx, "", 0)
	must(t, err)
	s.Members = map[string][]meta.Member{}
	for _, p := range s.Projects {
		s.Members[p.Name], err = m.ListMembers(ctx, p.ID)
		must(t, err)
	}
	s.Robots, err = m.ListRobots(ctx, -1)
	must(t, err)
	s.Audit, err = m.ListAudit(ctx, meta.AuditFilter{})
	must(t, err)
	return s
}

// accessView is an accessState with the database's IDs replaced by names:
// what must be equal between source and destination. Members are listed
// under the name of the project whose ID they were listed by; a robot whose
// project ID names no project of the store shows as "?<id>".
type accessView struct {
	Users    map[string]meta.User
	Projects map[string]meta.Project
	Members  map[string][]meta.Member
	Robots   map[string]robotView
	Audit    []meta.AuditEvent
}

type robotView struct {
	Project string
	Robot   meta.Robot
}

func (s accessState) view() accessView {
	v := accessView{Users: map[string]meta.User{}, Projects: map[string]meta.Project{},
		Members: map[string][]meta.Member{}, Robots: map[string]robotView{}}
	names := map[int64]string{}
	for _, u := range s.Users {
		u.ID = 0
		v.Users[u.Name] = u
	}
	for _, p := range s.Projects {
		names[p.ID] = p.Name
		p.ID = 0
		v.Projects[p.Name] = p
	}
	for project, ms := range s.Members {
		for _, m := range ms {
			m.ProjectID = 0
			v.Members[project] = append(v.Members[project], m)
		}
	}
	for _, r := range s.Robots {
		project, ok := names[r.ProjectID]
		if !ok && r.ProjectID != 0 {
			project = fmt.Sprintf("?%d", r.ProjectID)
		}
		r.ID, r.ProjectID = 0, 0
		v.Robots[r.Name] = robotView{project, r}
	}
	for _, e := range s.Audit {
		e.ID = 0
		v.Audit = append(v.Audit, e)
	}
	slices.SortFunc(v.Audit, func(a, b meta.AuditEvent) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)))
	})
	return v
}

// TestTransferCarriesAccessControl transfers users, projects, members,
// robots and the audit log onto a destination that already has an admin
// and a project of the same names, checks that the destination then holds
// the source's records under its own IDs (the source's admin winning),
// that the copied hashes still verify the original credentials, and that
// transferring again changes nothing. Batch sizes vary so that records,
// and the two identical audit events, fall on transaction boundaries.
func TestTransferCarriesAccessControl(t *testing.T) {
	creds := hashCredentials(t)
	for _, tc := range []struct {
		dest  string
		open  func(t *testing.T) transfer.Dest
		batch int
	}{
		{"sqlite", openSQLiteDest, 1},
		{"sqlite", openSQLiteDest, 3},
		{"sqlite", openSQLiteDest, 500},
		{"postgres", openPostgresDest, 2},
		{"postgres", openPostgresDest, 500},
	} {
		t.Run(fmt.Sprintf("%s batch %d", tc.dest, tc.batch), func(t *testing.T) {
			t.Parallel()
			src, dst := open(t, t.TempDir()), tc.open(t)
			seed(t, src)
			seedAccess(t, src.meta, creds)
			seedDestination(t, dst.Meta, creds)
			before := readAccess(t, dst.Meta).view()
			run := func() transfer.Report {
				t.Helper()
				rep, err := transfer.Run(context.Background(), transfer.Source{Meta: src.meta, Blobs: src.blobs},
					dst, transfer.Options{BatchSize: tc.batch})
				if err != nil {
					t.Fatalf("transfer: %v", err)
				}
				return rep
			}
			first := run()
			got := readAccess(t, dst.Meta)
			if diff := gocmp.Diff(wantAfterTransfer(readAccess(t, src.meta).view(), before), got.view()); diff != "" {
				t.Errorf("destination's access records (-want +got):\n%s", diff)
			}
			checkCredentials(t, dst.Meta)
			want := transfer.Report{Users: 3, Projects: 2, Members: 3, Robots: 2, AuditEvents: 4}
			if diff := gocmp.Diff(want, accessCounts(first)); diff != "" {
				t.Errorf("access counts of the report (-want +got):\n%s", diff)
			}

			second := run()
			if diff := gocmp.Diff(got, readAccess(t, dst.Meta)); diff != "" {
				t.Errorf("a second transfer changed the destination (-after first +after second):\n%s", diff)
			}
			if diff := gocmp.Diff(want, accessCounts(second)); diff != "" {
				t.Errorf("a second transfer reported other counts (-first +second):\n%s", diff)
			}
		})
	}
}

func openSQLiteDest(t *testing.T) transfer.Dest {
	s := open(t, t.TempDir())
	return transfer.Dest{Meta: s.meta, Blobs: s.blobs}
}

// openPostgresDest is a fresh PostgreSQL database (pgtest) with blobs in a
// directory: the metadata is what differs from SQLite here.
func openPostgresDest(t *testing.T) transfer.Dest {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	m, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{Logger: quiet})
	must(t, err)
	t.Cleanup(func() { _ = m.Close() })
	b, err := filesystem.New(t.TempDir(), filesystem.Options{Logger: quiet})
	must(t, err)
	return transfer.Dest{Meta: m, Blobs: b}
}

// accessCounts is the part of r that counts access records.
func accessCounts(r transfer.Report) transfer.Report {
	return transfer.Report{Users: r.Users, Projects: r.Projects, Members: r.Members, Robots: r.Robots,
		AuditEvents: r.AuditEvents}
}

// wantAfterTransfer is the source's view merged into what the destination
// held: records of the same name become the source's, except the
// creation times of the destination's own admin and ops project (the
// store's update methods keep them); the destination's own records stay.
func wantAfterTransfer(src, dst accessView) accessView {
	want := src
	admin := want.Users["admin"]
	admin.CreatedAt = dst.Users["admin"].CreatedAt
	want.Users["admin"] = admin
	ops := want.Projects["ops"]
	ops.CreatedAt, ops.CreatedBy = dst.Projects["ops"].CreatedAt, dst.Projects["ops"].CreatedBy
	want.Projects["ops"] = ops
	want.Projects["local"] = dst.Projects["local"]
	want.Audit = append(slices.Clone(dst.Audit), want.Audit...)
	slices.SortFunc(want.Audit, func(a, b meta.AuditEvent) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)))
	})
	return want
}

// checkCredentials verifies the original passwords and secrets against the
// hashes the destination now holds.
func checkCredentials(t *testing.T, m meta.Store) {
	t.Helper()
	ctx := context.Background()
	for _, tc := range []struct {
		user, password string
		want           bool
	}{
		{"admin", adminPassword, true},
		{"admin", dstAdminPassword, false},
		{"alice", alicePassword, true},
		{"alice", adminPassword, false},
	} {
		u, err := m.GetUser(ctx, tc.user)
		must(t, err)
		ok, err := secret.VerifyPassword(u.PasswordHash, tc.password)
		if err != nil || ok != tc.want {
			t.Errorf("password %q of %s at the destination: ok=%v err=%v, want ok=%v", tc.password, tc.user, ok, err, tc.want)
		}
	}
	alice, err := m.GetUser(ctx, "alice")
	must(t, err)
	if !secret.VerifySecret(alice.CLISecretHash, "alice cli secret") {
		t.Error("alice's CLI secret does not verify at the destination")
	}
	r, err := m.GetRobot(ctx, "robot$team+ci")
	must(t, err)
	if !secret.VerifySecret(r.SecretHash, robotSecret) || secret.VerifySecret(r.SecretHash, "mirror") {
		t.Error("the CI robot's secret hash at the destination does not verify its secret (only)")
	}
	team, err := m.GetProject(ctx, "team")
	must(t, err)
	if r.ProjectID != team.ID {
		t.Errorf("robot$team+ci belongs to project %d at the destination, team is %d", r.ProjectID, team.ID)
	}
}
