package admin_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
)

func ruleIDs(l wire.ImmutabilityRuleList) []string {
	var out []string
	for _, r := range l.Rules {
		out = append(out, r.Description)
	}
	return out
}

func TestImmutabilityRules(t *testing.T) {
	release := wire.NewImmutabilityRule{Repositories: []string{"api/*"}, Tags: []string{"v*", "!*-rc*"}}
	run(t, []step{
		{name: "add project rule", as: alice, method: "POST", path: "/api/v1/projects/team/immutability", status: 201, body: release,
			check: func(t *testing.T, r response) {
				var got wire.ImmutabilityRule
				r.decodeInto(t, &got)
				want := wire.ImmutabilityRule{ID: 1, Project: "team", Repositories: []string{"api/*"}, Tags: []string{"v*", "!*-rc*"},
					Description: "rule 1: tags v*, except *-rc* in api/*", CreatedAt: got.CreatedAt, CreatedBy: "alice"}
				if _, err := wire.ParseTime(got.CreatedAt); err != nil || got.CreatedAt == "" {
					t.Errorf("created_at %q: %v", got.CreatedAt, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Error(diff)
				}
				if loc := r.header.Get("Location"); loc != "/api/v1/projects/team/immutability/1" {
					t.Errorf("Location %q", loc)
				}
			}},
		{name: "add as guest", as: bob, method: "POST", path: "/api/v1/projects/team/immutability", status: 403, code: "DENIED", body: release},
		{name: "add in hidden project", as: carol, method: "POST", path: "/api/v1/projects/team/immutability", status: 404, code: "NOT_FOUND", body: release},
		{name: "add in missing project", as: root, method: "POST", path: "/api/v1/projects/nope/immutability", status: 404, code: "NOT_FOUND", body: release},
		{name: "add bad pattern", as: alice, method: "POST", path: "/api/v1/projects/team/immutability", status: 400, code: "INVALID",
			body: wire.NewImmutabilityRule{Tags: []string{"v["}}},
		{name: "add without tags", as: alice, method: "POST", path: "/api/v1/projects/team/immutability", status: 400, code: "INVALID",
			body: wire.NewImmutabilityRule{Repositories: []string{"**"}}},
		{name: "add unknown field", as: alice, method: "POST", path: "/api/v1/projects/team/immutability", status: 400, code: "INVALID",
			body: `{"tags":["x"],"tag":"y"}`},
		{name: "list project rules", as: alice, method: "GET", path: "/api/v1/projects/team/immutability", status: 200,
			check: wantNames(ruleIDs, "rule 1: tags v*, except *-rc* in api/*")},
		{name: "list as guest", as: bob, method: "GET", path: "/api/v1/projects/team/immutability", status: 403, code: "DENIED"},
		{name: "list system as user", as: alice, method: "GET", path: "/api/v1/immutability", status: 403, code: "DENIED"},
		{name: "list system empty", as: root, method: "GET", path: "/api/v1/immutability", status: 200, check: wantNames(ruleIDs)},
		{name: "add system rule", as: root, method: "POST", path: "/api/v1/immutability", status: 201,
			body: wire.NewImmutabilityRule{Tags: []string{"release-*"}}},
		{name: "add system rule as user", as: alice, method: "POST", path: "/api/v1/immutability", status: 403, code: "DENIED",
			body: wire.NewImmutabilityRule{Tags: []string{"mine"}}},
		{name: "list system", as: root, method: "GET", path: "/api/v1/immutability", status: 200, check: wantNames(ruleIDs, "rule 2: tags release-*")},
		{name: "project list leaves system rules out", as: root, method: "GET", path: "/api/v1/projects/team/immutability", status: 200,
			check: wantNames(ruleIDs, "rule 1: tags v*, except *-rc* in api/*")},
		{name: "remove system rule through project", as: alice, method: "DELETE", path: "/api/v1/projects/team/immutability/2", status: 404, code: "NOT_FOUND"},
		{name: "remove malformed id", as: alice, method: "DELETE", path: "/api/v1/projects/team/immutability/abc", status: 404, code: "NOT_FOUND"},
		{name: "remove as guest", as: bob, method: "DELETE", path: "/api/v1/projects/team/immutability/1", status: 403, code: "DENIED"},
		{name: "remove", as: alice, method: "DELETE", path: "/api/v1/projects/team/immutability/1", status: 204},
		{name: "remove again", as: alice, method: "DELETE", path: "/api/v1/projects/team/immutability/1", status: 404, code: "NOT_FOUND"},
		{name: "remove system rule as user", as: alice, method: "DELETE", path: "/api/v1/immutability/2", status: 403, code: "DENIED"},
		{name: "remove system rule", as: root, method: "DELETE", path: "/api/v1/immutability/2", status: 204},
		{name: "list after", as: root, method: "GET", path: "/api/v1/immutability", status: 200, check: wantNames(ruleIDs)},
	})
}

func TestImmutabilityRulesAreAudited(t *testing.T) {
	s := world(t)
	send(t, s, alice, "POST", "/api/v1/projects/team/immutability", wire.NewImmutabilityRule{Tags: []string{"v*"}})
	send(t, s, bob, "POST", "/api/v1/projects/team/immutability", wire.NewImmutabilityRule{Tags: []string{"x"}})
	send(t, s, alice, "DELETE", "/api/v1/projects/team/immutability/1", nil)
	s.FlushAudit(t)
	events, err := s.Audit.List(t.Context(), meta.AuditFilter{Resource: "immutability"})
	if err != nil {
		t.Fatal(err)
	}
	type ev struct{ Actor, Action, Project, Resource, Outcome string }
	var got []ev
	for _, e := range events {
		got = append(got, ev{e.Actor, e.Action, e.Project, e.Resource, e.Outcome})
	}
	want := []ev{ // newest first
		{"alice", "immutability.remove", "team", "immutability/1", "success"},
		{"bob", "immutability.add", "team", "immutability", "denied"},
		{"alice", "immutability.add", "team", "immutability/1", "success"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}
