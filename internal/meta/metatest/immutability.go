package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
)

// RunImmutability runs the conformance tests of meta.ImmutabilityStore on
// fresh stores from newStore (as Run), which must have that ability
// (directly or through meta.Unwrapper).
func RunImmutability(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []test{
		{"PutListDelete", testImmutabilityRoundTrip},
		{"ProjectsAndSystemAreSeparate", testImmutabilityScopes},
		{"MissingProject", testImmutabilityMissingProject},
		{"DeleteNeedsTheOwningProject", testImmutabilityDeleteScope},
		{"ProjectDeleteTakesItsRules", testImmutabilityCascade},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// immutability returns the ImmutabilityStore of s or stops the test.
func immutability(t *testing.T, s meta.Store) meta.ImmutabilityStore {
	t.Helper()
	is, ok := meta.ImmutabilityOf(s)
	if !ok {
		t.Fatalf("%T has no meta.ImmutabilityStore", s)
	}
	return is
}

// mustPutRule stores r.
func mustPutRule(t *testing.T, is meta.ImmutabilityStore, r *meta.ImmutabilityRule) {
	t.Helper()
	if err := is.PutImmutabilityRule(t.Context(), r); err != nil {
		t.Fatalf("PutImmutabilityRule(project %d): %v", r.ProjectID, err)
	}
	if r.ID == 0 || r.CreatedAt.IsZero() {
		t.Fatalf("PutImmutabilityRule left the ID (%d) or creation time (%v) unset", r.ID, r.CreatedAt)
	}
}

func listRules(t *testing.T, is meta.ImmutabilityStore, projectID int64) []meta.ImmutabilityRule {
	t.Helper()
	rules, err := is.ListImmutabilityRules(t.Context(), projectID)
	if err != nil {
		t.Fatalf("ListImmutabilityRules(%d): %v", projectID, err)
	}
	return rules
}

func testImmutabilityRoundTrip(t *testing.T, s meta.Store) {
	is := immutability(t, s)
	p := mustCreateProject(t, s, "platform", false)
	if got := listRules(t, is, p.ID); len(got) != 0 {
		t.Fatalf("new project has rules: %+v", got)
	}
	first := &meta.ImmutabilityRule{ProjectID: p.ID, Repositories: []string{"api/*", "web"},
		Tags: []string{"v*", "!*-rc*"}, CreatedAt: baseTime, CreatedBy: "alice"}
	second := &meta.ImmutabilityRule{ProjectID: p.ID, Tags: []string{"release-*"}, CreatedAt: at(time.Second), CreatedBy: "bob"}
	third := &meta.ImmutabilityRule{ProjectID: p.ID, CreatedAt: at(2 * time.Second)}
	mustPutRule(t, is, first)
	mustPutRule(t, is, second)
	mustPutRule(t, is, third)
	if !(first.ID < second.ID && second.ID < third.ID) {
		t.Fatalf("IDs do not grow: %d, %d, %d", first.ID, second.ID, third.ID)
	}
	want := []meta.ImmutabilityRule{*first, *second, *third}
	if diff := cmp.Diff(want, listRules(t, is, p.ID)); diff != "" {
		t.Fatalf("ListImmutabilityRules (-want +got):\n%s", diff)
	}
	if err := is.DeleteImmutabilityRule(t.Context(), p.ID, second.ID); err != nil {
		t.Fatalf("DeleteImmutabilityRule: %v", err)
	}
	if err := is.DeleteImmutabilityRule(t.Context(), p.ID, second.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("second DeleteImmutabilityRule = %v, want ErrNotFound", err)
	}
	want = []meta.ImmutabilityRule{*first, *third}
	if diff := cmp.Diff(want, listRules(t, is, p.ID)); diff != "" {
		t.Fatalf("after delete (-want +got):\n%s", diff)
	}
	// A new rule never reuses the ID of a deleted one.
	fourth := &meta.ImmutabilityRule{ProjectID: p.ID, Tags: []string{"x"}, CreatedAt: at(3 * time.Second)}
	mustPutRule(t, is, fourth)
	if fourth.ID <= third.ID {
		t.Fatalf("rule added after a delete got ID %d, not above %d", fourth.ID, third.ID)
	}
}

func testImmutabilityScopes(t *testing.T, s meta.Store) {
	is := immutability(t, s)
	a := mustCreateProject(t, s, "a", false)
	b := mustCreateProject(t, s, "b", false)
	ra := &meta.ImmutabilityRule{ProjectID: a.ID, Tags: []string{"a*"}, CreatedAt: baseTime}
	rb := &meta.ImmutabilityRule{ProjectID: b.ID, Tags: []string{"b*"}, CreatedAt: baseTime}
	sys := &meta.ImmutabilityRule{Repositories: []string{"**"}, Tags: []string{"v*"}, CreatedAt: baseTime}
	for _, r := range []*meta.ImmutabilityRule{ra, sys, rb} {
		mustPutRule(t, is, r)
	}
	for _, tc := range []struct {
		name    string
		project int64
		want    []meta.ImmutabilityRule
	}{
		{"project a", a.ID, []meta.ImmutabilityRule{*ra}},
		{"project b", b.ID, []meta.ImmutabilityRule{*rb}},
		{"system", 0, []meta.ImmutabilityRule{*sys}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, listRules(t, is, tc.project)); diff != "" {
				t.Fatalf("ListImmutabilityRules (-want +got):\n%s", diff)
			}
		})
	}
}

func testImmutabilityMissingProject(t *testing.T, s meta.Store) {
	is := immutability(t, s)
	err := is.PutImmutabilityRule(t.Context(), &meta.ImmutabilityRule{ProjectID: 4242, Tags: []string{"v*"}})
	if !errdefs.IsNotFound(err) {
		t.Fatalf("PutImmutabilityRule in a missing project = %v, want ErrNotFound", err)
	}
	if got := listRules(t, is, 4242); len(got) != 0 {
		t.Fatalf("a refused rule was stored: %+v", got)
	}
}

func testImmutabilityDeleteScope(t *testing.T, s meta.Store) {
	is := immutability(t, s)
	a := mustCreateProject(t, s, "a", false)
	b := mustCreateProject(t, s, "b", false)
	ra := &meta.ImmutabilityRule{ProjectID: a.ID, Tags: []string{"a*"}, CreatedAt: baseTime}
	sys := &meta.ImmutabilityRule{Tags: []string{"v*"}, CreatedAt: baseTime}
	mustPutRule(t, is, ra)
	mustPutRule(t, is, sys)
	for _, tc := range []struct {
		name        string
		project, id int64
	}{
		{"project rule through another project", b.ID, ra.ID},
		{"project rule through system", 0, ra.ID},
		{"system rule through a project", a.ID, sys.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := is.DeleteImmutabilityRule(t.Context(), tc.project, tc.id); !errdefs.IsNotFound(err) {
				t.Fatalf("DeleteImmutabilityRule(%d, %d) = %v, want ErrNotFound", tc.project, tc.id, err)
			}
		})
	}
	if got := len(listRules(t, is, a.ID)) + len(listRules(t, is, 0)); got != 2 {
		t.Fatalf("%d rules left, want 2", got)
	}
	if err := is.DeleteImmutabilityRule(t.Context(), 0, sys.ID); err != nil {
		t.Fatalf("DeleteImmutabilityRule(system): %v", err)
	}
}

func testImmutabilityCascade(t *testing.T, s meta.Store) {
	is := immutability(t, s)
	p := mustCreateProject(t, s, "gone", false)
	mustPutRule(t, is, &meta.ImmutabilityRule{ProjectID: p.ID, Tags: []string{"v*"}, CreatedAt: baseTime})
	if err := s.DeleteProject(t.Context(), "gone"); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}
	again := mustCreateProject(t, s, "gone", false)
	if got := listRules(t, is, again.ID); len(got) != 0 {
		t.Fatalf("a recreated project inherited rules: %+v", got)
	}
	if got := listRules(t, is, p.ID); len(got) != 0 {
		t.Fatalf("rules of a deleted project remain: %+v", got)
	}
}
