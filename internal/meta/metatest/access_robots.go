package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

func robotTests() []test {
	return []test{
		{"CreateGetUpdateDelete", testRobotRoundTrip},
		{"ListRobots", testListRobots},
		{"TouchRobotOnlyMovesForward", testTouchRobot},
	}
}

// newRobot returns a robot of project projectID (0: a system robot) with
// every field but the ID and LastUsedAt set.
func newRobot(name string, projectID int64) *meta.Robot {
	return &meta.Robot{
		Name:        name,
		ProjectID:   projectID,
		Description: "CI of " + name,
		SecretHash:  "hash of " + name,
		Permissions: []meta.RobotPermission{
			{Project: "team", Repositories: []string{"api/*", "web"}, Actions: []string{"pull", "push"}},
			{Project: "*", Actions: []string{"pull"}},
		},
		ExpiresAt: at(30 * 24 * time.Hour),
		CreatedAt: baseTime,
		CreatedBy: "alice",
	}
}

// mustCreateRobot stores r.
func mustCreateRobot(t *testing.T, q meta.Querier, r *meta.Robot) {
	t.Helper()
	if err := q.CreateRobot(t.Context(), r); err != nil {
		t.Fatalf("CreateRobot(%q): %v", r.Name, err)
	}
	if r.ID == 0 {
		t.Fatalf("CreateRobot(%q) left the ID unset", r.Name)
	}
}

func robotNames(robots []meta.Robot) []string {
	var out []string
	for _, r := range robots {
		out = append(out, r.Name)
	}
	return out
}

func testRobotRoundTrip(t *testing.T, s meta.Store) {
	ctx := t.Context()
	p := mustCreateProject(t, s, "team", false)
	r := newRobot("robot$team+ci", p.ID)
	mustCreateRobot(t, s, r)
	sys := &meta.Robot{Name: "robot$puller", SecretHash: "h"} // no permissions, never expires
	mustCreateRobot(t, s, sys)
	for _, want := range []*meta.Robot{r, sys} {
		got, err := s.GetRobot(ctx, want.Name)
		if err != nil {
			t.Fatalf("GetRobot(%q): %v", want.Name, err)
		}
		if want == sys {
			want.CreatedAt = got.CreatedAt // defaulted by the store
		}
		adiff(t, "GetRobot "+want.Name, want, got)
		wantUTC(t, "CreatedAt", got.CreatedAt)
	}

	// Every field UpdateRobot stores changes; the others stay.
	upd := *r
	upd.Name, upd.ProjectID, upd.CreatedBy, upd.CreatedAt = "robot$renamed", 0, "mallory", at(time.Hour)
	upd.Description, upd.SecretHash, upd.Disabled = "rotated", "new hash", true
	upd.Permissions = []meta.RobotPermission{{Project: "team", Actions: []string{"pull"}}}
	upd.ExpiresAt = time.Time{}
	if err := s.UpdateRobot(ctx, &upd); err != nil {
		t.Fatalf("UpdateRobot: %v", err)
	}
	got, err := s.GetRobot(ctx, r.Name)
	if err != nil {
		t.Fatalf("GetRobot after update: %v", err)
	}
	want := upd
	want.Name, want.ProjectID, want.CreatedBy, want.CreatedAt = r.Name, r.ProjectID, r.CreatedBy, r.CreatedAt
	adiff(t, "robot after update", &want, got)

	errs := []struct {
		name string
		err  func() error
		want error
	}{
		{"CreateRobot taken", func() error { return s.CreateRobot(ctx, newRobot("robot$team+ci", 0)) }, errdefs.ErrAlreadyExists},
		{"GetRobot absent", func() error { _, err := s.GetRobot(ctx, "robot$renamed"); return err }, errdefs.ErrNotFound},
		{"UpdateRobot absent", func() error {
			return s.UpdateRobot(ctx, &meta.Robot{ID: r.ID + sys.ID + 100, Name: "x"})
		}, errdefs.ErrNotFound},
		{"DeleteRobot", func() error { return s.DeleteRobot(ctx, r.Name) }, nil},
		{"GetRobot deleted", func() error { _, err := s.GetRobot(ctx, r.Name); return err }, errdefs.ErrNotFound},
		{"DeleteRobot twice", func() error { return s.DeleteRobot(ctx, r.Name) }, errdefs.ErrNotFound},
		{"name free again", func() error { return s.CreateRobot(ctx, newRobot(r.Name, p.ID)) }, nil},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if tc.want == nil {
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
				}
				return
			}
			wantErr(t, tc.name, err, tc.want)
		})
	}
}

func testListRobots(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a := mustCreateProject(t, s, "a", false)
	b := mustCreateProject(t, s, "b", false)
	empty := mustCreateProject(t, s, "empty", false)
	for _, r := range []*meta.Robot{
		newRobot("robot$b+one", b.ID),
		newRobot("robot$zz", 0),
		newRobot("robot$a+two", a.ID),
		newRobot("robot$a+one", a.ID),
		newRobot("robot$Sys", 0),
	} {
		mustCreateRobot(t, s, r)
	}
	tests := []struct {
		name    string
		project int64
		want    []string
	}{
		{"every robot", -1, []string{"robot$Sys", "robot$a+one", "robot$a+two", "robot$b+one", "robot$zz"}},
		{"system robots", 0, []string{"robot$Sys", "robot$zz"}},
		{"project a", a.ID, []string{"robot$a+one", "robot$a+two"}},
		{"project b", b.ID, []string{"robot$b+one"}},
		{"project without robots", empty.ID, nil},
		{"absent project", a.ID + b.ID + empty.ID + 100, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListRobots(ctx, tc.project)
			if err != nil {
				t.Fatalf("ListRobots(%d): %v", tc.project, err)
			}
			adiff(t, "robots", tc.want, robotNames(got))
			for _, r := range got {
				if r.Name == "robot$a+one" {
					want := newRobot(r.Name, a.ID)
					want.ID = r.ID
					adiff(t, "listed record", want, &r)
				}
			}
		})
	}
}

func testTouchRobot(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := newRobot("robot$ci", 0)
	mustCreateRobot(t, s, r)
	steps := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"first use", at(time.Hour), at(time.Hour)},
		{"later", at(2 * time.Hour), at(2 * time.Hour)},
		{"earlier is ignored", at(90 * time.Minute), at(2 * time.Hour)},
		{"same is kept", at(2 * time.Hour), at(2 * time.Hour)},
		{"a microsecond later", at(2*time.Hour + time.Microsecond), at(2*time.Hour + time.Microsecond)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := s.TouchRobot(ctx, r.ID, st.at); err != nil {
				t.Fatalf("TouchRobot: %v", err)
			}
			got, err := s.GetRobot(ctx, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !got.LastUsedAt.Equal(st.want) {
				t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, st.want)
			}
			wantUTC(t, "LastUsedAt", got.LastUsedAt)
		})
	}
	// UpdateRobot does not move it.
	got, err := s.GetRobot(ctx, r.Name)
	if err != nil {
		t.Fatal(err)
	}
	got.Description = "changed"
	got.LastUsedAt = time.Time{}
	if err := s.UpdateRobot(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, err := s.GetRobot(ctx, r.Name); err != nil || !again.LastUsedAt.Equal(at(2*time.Hour+time.Microsecond)) {
		t.Errorf("LastUsedAt after UpdateRobot = %v, %v", again.LastUsedAt, err)
	}
}
