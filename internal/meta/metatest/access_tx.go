package metatest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func accessTxTests() []test {
	return []test{
		{"CommitsAndReadsOwnWrites", testAccessTxCommits},
		{"RollsBackOnError", testAccessTxRollsBack},
		{"RollsBackAfterAFailedPrimitive", testAccessTxFailedPrimitive},
	}
}

// adiff is diff where an empty and a nil slice are equal: the access
// contract does not tell them apart.
func adiff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	diff(t, what, want, got, append(opts, cmpopts.EquateEmpty())...)
}

// sortRoles compares role lists as sets within one project: RolesOf fixes
// the order of projects only (checked by wantProjectOrder).
var sortRoles = cmpopts.SortSlices(func(a, b meta.ProjectRole) bool {
	if a.Project != b.Project {
		return a.Project < b.Project
	}
	return a.Role < b.Role
})

// wantProjectOrder fails the test unless roles are in byte order of
// project name.
func wantProjectOrder(t *testing.T, roles []meta.ProjectRole) {
	t.Helper()
	if !slices.IsSortedFunc(roles, func(a, b meta.ProjectRole) int {
		switch {
		case a.Project < b.Project:
			return -1
		case a.Project > b.Project:
			return 1
		}
		return 0
	}) {
		t.Errorf("roles %v are not in project name order", roles)
	}
}

// accessWrites is one of every access write, through q, on a store where
// the repository "team/app" exists.
func accessWrites(t *testing.T, q meta.Querier) {
	t.Helper()
	ctx := t.Context()
	mustCreateUser(t, q, newUser("alice"))
	p := mustCreateProject(t, q, "team", false)
	mustPutMember(t, q, meta.Member{ProjectID: p.ID, Kind: meta.MemberUser, Name: "alice", Role: "developer"})
	mustCreateRobot(t, q, newRobot("robot$team+ci", p.ID))
	steps := []struct {
		name string
		fn   func() error
	}{
		{"PutSigningKey", func() error { return q.PutSigningKey(ctx, newSigningKey("k1", baseTime)) }},
		{"AppendAudit", func() error { return q.AppendAudit(ctx, auditEvents()[:2]) }},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
}

// accessReads checks through q that accessWrites' work is visible.
func accessReads(t *testing.T, q meta.Querier) {
	t.Helper()
	ctx := t.Context()
	if _, err := q.GetUser(ctx, "alice"); err != nil {
		t.Errorf("GetUser: %v", err)
	}
	p, err := q.GetProject(ctx, "team")
	if err != nil {
		t.Fatalf("GetProject: %v", err)
	}
	if roles, err := q.RolesOf(ctx, "alice", nil); err != nil || len(roles) != 1 {
		t.Errorf("RolesOf = %v, %v; want one role", roles, err)
	}
	if robots, err := q.ListRobots(ctx, p.ID); err != nil || len(robots) != 1 {
		t.Errorf("ListRobots = %v, %v; want one robot", robots, err)
	}
	if keys, err := q.ListSigningKeys(ctx); err != nil || len(keys) != 1 {
		t.Errorf("ListSigningKeys = %v, %v; want one key", keys, err)
	}
	if events, err := q.ListAudit(ctx, meta.AuditFilter{}); err != nil || len(events) != 2 {
		t.Errorf("ListAudit = %v, %v; want two events", events, err)
	}
}

// wantNoAccessData fails the test if any access data is stored.
func wantNoAccessData(t *testing.T, s meta.Store) {
	t.Helper()
	ctx := t.Context()
	checks := []struct {
		name string
		n    func() (int, error)
	}{
		{"users", func() (int, error) { l, err := s.ListUsers(ctx, "", 0); return len(l), err }},
		{"projects", func() (int, error) { l, err := s.ListProjects(ctx, "", 0); return len(l), err }},
		{"roles", func() (int, error) { l, err := s.RolesOf(ctx, "alice", nil); return len(l), err }},
		{"robots", func() (int, error) { l, err := s.ListRobots(ctx, -1); return len(l), err }},
		{"keys", func() (int, error) { l, err := s.ListSigningKeys(ctx); return len(l), err }},
		{"audit", func() (int, error) { l, err := s.ListAudit(ctx, meta.AuditFilter{}); return len(l), err }},
	}
	for _, c := range checks {
		if n, err := c.n(); err != nil || n != 0 {
			t.Errorf("%s after rollback: %d, %v; want none", c.name, n, err)
		}
	}
}

func testAccessTxCommits(t *testing.T, s meta.Store) {
	err := s.WithTx(t.Context(), func(tx meta.Querier) error {
		accessWrites(t, tx)
		accessReads(t, tx)
		return nil
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	accessReads(t, s)
}

func testAccessTxRollsBack(t *testing.T, s meta.Store) {
	err := s.WithTx(t.Context(), func(tx meta.Querier) error {
		accessWrites(t, tx)
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("WithTx = %v, want the fn's error", err)
	}
	wantNoAccessData(t, s)
}

// testAccessTxFailedPrimitive: a primitive that fails inside a transaction
// (here a taken name, a conflicting delete) fails the transaction and
// nothing of it stays.
func testAccessTxFailedPrimitive(t *testing.T, s meta.Store) {
	ctx := t.Context()
	r := mustRepo(t, s, "held/app")
	mustPutManifest(t, s, newManifest(r.ID, "held"))
	held := mustCreateProject(t, s, "held", false)
	tests := []struct {
		name string
		fail func(tx meta.Querier) error
		want error
	}{
		{"CreateUser taken", func(tx meta.Querier) error { return tx.CreateUser(ctx, newUser("alice")) }, errdefs.ErrAlreadyExists},
		{"CreateProject taken", func(tx meta.Querier) error {
			return tx.CreateProject(ctx, &meta.Project{Name: "team"})
		}, errdefs.ErrAlreadyExists},
		{"CreateRobot taken", func(tx meta.Querier) error {
			return tx.CreateRobot(ctx, newRobot("robot$team+ci", 0))
		}, errdefs.ErrAlreadyExists},
		{"PutSigningKey taken", func(tx meta.Querier) error {
			return tx.PutSigningKey(ctx, newSigningKey("k1", at(time.Hour)))
		}, errdefs.ErrAlreadyExists},
		{"DeleteProject in use", func(tx meta.Querier) error { return tx.DeleteProject(ctx, "held") }, errdefs.ErrConflict},
		{"PutMember absent project", func(tx meta.Querier) error {
			return tx.PutMember(ctx, meta.Member{ProjectID: held.ID + 1000, Kind: meta.MemberUser, Name: "x", Role: "guest"})
		}, errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.WithTx(ctx, func(tx meta.Querier) error {
				accessWrites(t, tx)
				return tc.fail(tx)
			})
			wantErr(t, "WithTx", err, tc.want)
			if _, err := s.GetUser(ctx, "alice"); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("GetUser after a failed transaction = %v, want ErrNotFound", err)
			}
			if _, err := s.GetProject(ctx, "team"); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("GetProject(team) after a failed transaction = %v, want ErrNotFound", err)
			}
			if _, err := s.GetProject(ctx, "held"); err != nil {
				t.Errorf("GetProject(held) after a failed transaction: %v", err)
			}
		})
	}
}
