package metatest

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

func projectTests() []test {
	return []test{
		{"CreateGetUpdate", testProjectRoundTrip},
		{"ListProjectsPages", testListProjects},
		{"DeleteProjectConflictsWithManifests", testDeleteProjectConflict},
		{"DeleteProjectCascades", testDeleteProjectCascades},
		{"Members", testMembers},
		{"RolesOf", testRolesOf},
	}
}

// mustCreateProject stores a project called name.
func mustCreateProject(t *testing.T, q meta.Querier, name string, public bool) *meta.Project {
	t.Helper()
	p := &meta.Project{Name: name, Public: public, CreatedAt: baseTime, CreatedBy: "admin"}
	if err := q.CreateProject(t.Context(), p); err != nil {
		t.Fatalf("CreateProject(%q): %v", name, err)
	}
	if p.ID == 0 {
		t.Fatalf("CreateProject(%q) left the ID unset", name)
	}
	return p
}

// mustPutMember grants m.
func mustPutMember(t *testing.T, q meta.Querier, m meta.Member) {
	t.Helper()
	if err := q.PutMember(t.Context(), m); err != nil {
		t.Fatalf("PutMember(%+v): %v", m, err)
	}
}

func testProjectRoundTrip(t *testing.T, s meta.Store) {
	ctx := t.Context()
	p := mustCreateProject(t, s, "platform", false)
	got, err := s.GetProject(ctx, "platform")
	if err != nil {
		t.Fatalf("GetProject: %v", err)
	}
	adiff(t, "GetProject", p, got)
	wantUTC(t, "CreatedAt", got.CreatedAt)

	system := &meta.Project{Name: "system-made", CreatedAt: baseTime}
	if err := s.CreateProject(ctx, system); err != nil {
		t.Fatalf("CreateProject without creator: %v", err)
	}
	if got, err := s.GetProject(ctx, "system-made"); err != nil || got.CreatedBy != "" {
		t.Errorf("GetProject(system-made) = %+v, %v; want CreatedBy empty", got, err)
	}

	// Only Public is updated.
	upd := *p
	upd.Public, upd.Name, upd.CreatedBy = true, "renamed", "mallory"
	if err := s.UpdateProject(ctx, &upd); err != nil {
		t.Fatalf("UpdateProject: %v", err)
	}
	want := *p
	want.Public = true
	got, err = s.GetProject(ctx, "platform")
	if err != nil {
		t.Fatalf("GetProject after update: %v", err)
	}
	adiff(t, "project after update", &want, got)

	errs := []struct {
		name string
		err  error
		want error
	}{
		{"CreateProject taken", s.CreateProject(ctx, &meta.Project{Name: "platform"}), errdefs.ErrAlreadyExists},
		{"GetProject absent", func() error { _, err := s.GetProject(ctx, "renamed"); return err }(), errdefs.ErrNotFound},
		{"GetProject other case", func() error { _, err := s.GetProject(ctx, "Platform"); return err }(), errdefs.ErrNotFound},
		{"UpdateProject absent", s.UpdateProject(ctx, &meta.Project{ID: p.ID + system.ID + 100}), errdefs.ErrNotFound},
		{"DeleteProject absent", s.DeleteProject(ctx, "nope"), errdefs.ErrNotFound},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.err, tc.want) })
	}
}

func testListProjects(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, n := range []string{"b", "a", "B", "a-b", "a_b", "ä"} {
		mustCreateProject(t, s, n, n == "a")
	}
	want := []string{"B", "a", "a-b", "a_b", "b", "ä"}
	for _, limit := range []int{1, 4, 10} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			got := walk(t, limit, func(after string, limit int) ([]string, error) {
				ps, err := s.ListProjects(ctx, after, limit)
				var names []string
				for _, p := range ps {
					names = append(names, p.Name)
				}
				return names, err
			})
			adiff(t, "walked names", want, got)
		})
	}
	t.Run("records", func(t *testing.T) {
		ps, err := s.ListProjects(ctx, "B", 1)
		if err != nil || len(ps) != 1 {
			t.Fatalf("ListProjects = %v, %v", ps, err)
		}
		want := meta.Project{ID: ps[0].ID, Name: "a", Public: true, CreatedAt: baseTime, CreatedBy: "admin"}
		adiff(t, "listed project", want, ps[0])
	})
}

func testDeleteProjectConflict(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for _, n := range []string{"team", "team-b", "teams", "other"} {
		mustCreateProject(t, s, n, false)
	}
	// Repositories that are not team's, holding manifests: team-b/x,
	// teams/x, teamx, other/team.
	for _, n := range []string{"team-b/x", "teams/x", "teamx", "other/team"} {
		r := mustRepo(t, s, n)
		mustPutManifest(t, s, newManifest(r.ID, n))
	}
	deep := mustRepo(t, s, "team/api/backend")
	top := mustRepo(t, s, "team")
	mustRepo(t, s, "team/empty") // a repository without manifests does not hold the project

	m := newManifest(deep.ID, "deep")
	mustPutManifest(t, s, m)
	mustPutTag(t, s, deep.ID, "v1", m.Digest)
	wantErr(t, "DeleteProject with team/api/backend in use", s.DeleteProject(ctx, "team"), errdefs.ErrConflict)
	if _, err := s.GetProject(ctx, "team"); err != nil {
		t.Fatalf("GetProject after refused delete: %v", err)
	}
	if _, err := s.DeleteTag(ctx, deep.ID, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteManifest(ctx, deep.ID, m.Digest); err != nil {
		t.Fatal(err)
	}

	topM := newManifest(top.ID, "top")
	mustPutManifest(t, s, topM)
	wantErr(t, "DeleteProject with repository team in use", s.DeleteProject(ctx, "team"), errdefs.ErrConflict)
	if err := s.DeleteManifest(ctx, top.ID, topM.Digest); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteProject(ctx, "team"); err != nil {
		t.Fatalf("DeleteProject once its repositories are empty: %v", err)
	}
	_, err := s.GetProject(ctx, "team")
	wantErr(t, "GetProject after delete", err, errdefs.ErrNotFound)
	wantErr(t, "DeleteProject again", s.DeleteProject(ctx, "team"), errdefs.ErrNotFound)
	for _, n := range []string{"team-b", "teams", "other"} {
		if _, err := s.GetProject(ctx, n); err != nil {
			t.Errorf("GetProject(%q) after deleting team: %v", n, err)
		}
	}
}

func testDeleteProjectCascades(t *testing.T, s meta.Store) {
	ctx := t.Context()
	doomed := mustCreateProject(t, s, "doomed", false)
	kept := mustCreateProject(t, s, "kept", false)
	keptMember := meta.Member{ProjectID: kept.ID, Kind: meta.MemberUser, Name: "alice", Role: "guest", CreatedAt: baseTime}
	for _, m := range []meta.Member{
		{ProjectID: doomed.ID, Kind: meta.MemberUser, Name: "alice", Role: "maintainer", CreatedAt: baseTime},
		{ProjectID: doomed.ID, Kind: meta.MemberGroup, Name: "devs", Role: "developer", CreatedAt: baseTime},
		keptMember,
	} {
		mustPutMember(t, s, m)
	}
	mustCreateRobot(t, s, newRobot("robot$doomed+ci", doomed.ID))
	mustCreateRobot(t, s, newRobot("robot$kept+ci", kept.ID))
	mustCreateRobot(t, s, newRobot("robot$system", 0))

	if err := s.DeleteProject(ctx, "doomed"); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}
	if got, err := s.ListMembers(ctx, doomed.ID); err != nil || len(got) != 0 {
		t.Errorf("ListMembers of the deleted project = %v, %v; want none", got, err)
	}
	got, err := s.ListMembers(ctx, kept.ID)
	if err != nil {
		t.Fatal(err)
	}
	adiff(t, "members of the other project", []meta.Member{keptMember}, got)
	roles, err := s.RolesOf(ctx, "alice", []string{"devs"})
	if err != nil {
		t.Fatal(err)
	}
	adiff(t, "RolesOf after delete", []meta.ProjectRole{{ProjectID: kept.ID, Project: "kept", Role: "guest"}}, roles)
	_, err = s.GetRobot(ctx, "robot$doomed+ci")
	wantErr(t, "GetRobot of the deleted project", err, errdefs.ErrNotFound)
	robots, err := s.ListRobots(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	adiff(t, "robots left", []string{"robot$kept+ci", "robot$system"}, robotNames(robots))

	// The name can be used again, with nothing inherited.
	again := mustCreateProject(t, s, "doomed", false)
	if got, err := s.ListMembers(ctx, again.ID); err != nil || len(got) != 0 {
		t.Errorf("ListMembers of the re-created project = %v, %v; want none", got, err)
	}
}

func testMembers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	p := mustCreateProject(t, s, "team", false)
	other := mustCreateProject(t, s, "other", false)
	put := []meta.Member{
		{ProjectID: p.ID, Kind: meta.MemberGroup, Name: "ops", Role: "maintainer", CreatedAt: baseTime},
		{ProjectID: p.ID, Kind: meta.MemberUser, Name: "zed", Role: "guest", CreatedAt: baseTime},
		{ProjectID: p.ID, Kind: meta.MemberUser, Name: "alice", Role: "developer", CreatedAt: baseTime},
		{ProjectID: p.ID, Kind: meta.MemberGroup, Name: "devs", Role: "developer", CreatedAt: baseTime},
		{ProjectID: p.ID, Kind: meta.MemberUser, Name: "Bob", Role: "guest", CreatedAt: baseTime},
		{ProjectID: other.ID, Kind: meta.MemberUser, Name: "alice", Role: "projectAdmin", CreatedAt: baseTime},
	}
	for _, m := range put {
		mustPutMember(t, s, m)
	}
	// Replacing a role keeps one row per member.
	promoted := put[2]
	promoted.Role = "maintainer"
	promoted.CreatedAt = at(time.Hour)
	mustPutMember(t, s, promoted)

	got, err := s.ListMembers(ctx, p.ID)
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	// Users then groups, each in byte order of name.
	wantRoles := []string{"Bob/guest", "alice/maintainer", "zed/guest", "devs/developer", "ops/maintainer"}
	var gotRoles []string
	for _, m := range got {
		gotRoles = append(gotRoles, m.Name+"/"+m.Role)
	}
	adiff(t, "members", wantRoles, gotRoles)
	adiff(t, "a member record", put[4], got[0])

	tests := []struct {
		name string
		err  error
		want error
	}{
		{"PutMember absent project", s.PutMember(ctx, meta.Member{ProjectID: p.ID + other.ID + 100,
			Kind: meta.MemberUser, Name: "alice", Role: "guest"}), errdefs.ErrNotFound},
		{"DeleteMember absent", s.DeleteMember(ctx, p.ID, meta.MemberUser, "devs"), errdefs.ErrNotFound},
		{"DeleteMember other project", s.DeleteMember(ctx, other.ID, meta.MemberUser, "zed"), errdefs.ErrNotFound},
		{"DeleteMember", s.DeleteMember(ctx, p.ID, meta.MemberGroup, "devs"), nil},
		{"DeleteMember twice", s.DeleteMember(ctx, p.ID, meta.MemberGroup, "devs"), errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				if tc.err != nil {
					t.Errorf("%s: %v", tc.name, tc.err)
				}
				return
			}
			wantErr(t, tc.name, tc.err, tc.want)
		})
	}
	got, err = s.ListMembers(ctx, p.ID)
	if err != nil || len(got) != 4 {
		t.Errorf("ListMembers after deleting devs = %v, %v; want 4 members", got, err)
	}
	if got, err := s.ListMembers(ctx, p.ID+other.ID+100); err != nil || len(got) != 0 {
		t.Errorf("ListMembers of an absent project = %v, %v; want none", got, err)
	}
}

func testRolesOf(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a := mustCreateProject(t, s, "a-team", false)
	b := mustCreateProject(t, s, "b-team", true)
	c := mustCreateProject(t, s, "c-team", false)
	for _, m := range []meta.Member{
		{ProjectID: c.ID, Kind: meta.MemberUser, Name: "alice", Role: "guest"},
		{ProjectID: a.ID, Kind: meta.MemberGroup, Name: "devs", Role: "developer"},
		{ProjectID: a.ID, Kind: meta.MemberUser, Name: "alice", Role: "maintainer"},
		{ProjectID: b.ID, Kind: meta.MemberGroup, Name: "ops", Role: "projectAdmin"},
		{ProjectID: b.ID, Kind: meta.MemberGroup, Name: "alice", Role: "limitedGuest"}, // a group, not the user
		{ProjectID: c.ID, Kind: meta.MemberUser, Name: "bob", Role: "developer"},
		{ProjectID: c.ID, Kind: meta.MemberGroup, Name: "Devs", Role: "guest"},
	} {
		mustPutMember(t, s, m)
	}
	role := func(p *meta.Project, r string) meta.ProjectRole {
		return meta.ProjectRole{ProjectID: p.ID, Project: p.Name, Role: r}
	}
	tests := []struct {
		name   string
		user   string
		groups []string
		want   []meta.ProjectRole
	}{
		{"user only", "alice", nil, []meta.ProjectRole{role(a, "maintainer"), role(c, "guest")}},
		{"user and group in one project", "alice", []string{"devs"},
			[]meta.ProjectRole{role(a, "maintainer"), role(a, "developer"), role(c, "guest")}},
		{"groups across projects", "nobody", []string{"ops", "devs", "unknown"},
			[]meta.ProjectRole{role(a, "developer"), role(b, "projectAdmin")}},
		{"group names are exact", "", []string{"DEVS", "Devs"}, []meta.ProjectRole{role(c, "guest")}},
		{"nothing", "carol", []string{"nobody"}, nil},
		{"no user, no groups", "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.RolesOf(ctx, tc.user, tc.groups)
			if err != nil {
				t.Fatalf("RolesOf: %v", err)
			}
			wantProjectOrder(t, got)
			adiff(t, "roles", tc.want, got, sortRoles)
		})
	}
}
