package admin_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/google/go-cmp/cmp"
)

func wantQuota(want wire.Quota) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		var got wire.Quota
		r.decodeInto(t, &got)
		got.UpdatedAt = ""
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("quota (-want +got):\n%s", diff)
		}
	}
}

func TestQuota(t *testing.T) {
	set := wire.QuotaSettings{LimitBytes: 1 << 30, WarnBytes: 800 << 20, ArtifactLimit: 10}
	run(t, []step{
		{name: "get without quota", as: bob, method: "GET", path: "/api/v1/projects/team/quota", status: 200,
			check: wantQuota(wire.Quota{Project: "team"})},
		{name: "get in hidden project", as: carol, method: "GET", path: "/api/v1/projects/team/quota", status: 404, code: "NOT_FOUND"},
		{name: "project admin may not set", as: alice, method: "PUT", path: "/api/v1/projects/team/quota", status: 403, code: "DENIED", body: set},
		{name: "set", as: root, method: "PUT", path: "/api/v1/projects/team/quota", status: 200, body: set,
			check: wantQuota(wire.Quota{Project: "team", LimitBytes: 1 << 30, WarnBytes: 800 << 20, ArtifactLimit: 10, UpdatedBy: "admin"})},
		{name: "set negative", as: root, method: "PUT", path: "/api/v1/projects/team/quota", status: 400, code: "INVALID",
			body: wire.QuotaSettings{LimitBytes: -1}},
		{name: "set warn over limit", as: root, method: "PUT", path: "/api/v1/projects/team/quota", status: 400, code: "INVALID",
			body: wire.QuotaSettings{LimitBytes: 10, WarnBytes: 11}},
		{name: "set in missing project", as: root, method: "PUT", path: "/api/v1/projects/nope/quota", status: 404, code: "NOT_FOUND", body: set},
		{name: "get as guest", as: bob, method: "GET", path: "/api/v1/projects/team/quota", status: 200,
			check: wantQuota(wire.Quota{Project: "team", LimitBytes: 1 << 30, WarnBytes: 800 << 20, ArtifactLimit: 10, UpdatedBy: "admin"})},
		{name: "project admin may not delete", as: alice, method: "DELETE", path: "/api/v1/projects/team/quota", status: 403, code: "DENIED"},
		{name: "delete", as: root, method: "DELETE", path: "/api/v1/projects/team/quota", status: 204},
		{name: "delete again", as: root, method: "DELETE", path: "/api/v1/projects/team/quota", status: 404, code: "NOT_FOUND"},
	})
}
