package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/google/go-cmp/cmp"
)

func TestImmutabilityCommands(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "alice", "alice-password")
	mustRun(t, "immutability", "add", "--project", "team", "--repo", "api/*", "--tag", "v*", "--tag", "!*-rc*")
	mustRun(t, "immutability", "add", "--project", "team", "--tag", "stable")
	golden(t, "immutability_list.golden", mustRun(t, "immutability", "list", "--project", "team"))

	var rules []wire.ImmutabilityRule
	if err := json.Unmarshal([]byte(mustRun(t, "immutability", "list", "--project", "team", "-o", "json")), &rules); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.Project+" "+r.Description)
	}
	want := []string{"team rule 1: tags v*, except *-rc* in api/*", "team rule 2: tags stable"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}

	if out := mustRun(t, "immutability", "remove", "--project", "team", "1"); out != "Removed immutability rule 1\n" {
		t.Errorf("remove printed %q", out)
	}
	if out := mustRun(t, "immutability", "list", "--project", "team"); strings.Contains(out, "api/*") {
		t.Errorf("removed rule still listed:\n%s", out)
	}

	// alice is no system administrator; the admin is.
	if code, _, errOut := runIn(t, "", "immutability", "add", "--tag", "release-*"); code == 0 || !strings.Contains(errOut, "system administrator") {
		t.Errorf("system rule as alice: exit %d, stderr %q", code, errOut)
	}
	e.login(t, "admin", admintest.AdminPassword)
	mustRun(t, "immutability", "add", "--repo", "**", "--tag", "release-*")
	if out := mustRun(t, "immutability", "list"); !strings.Contains(out, "release-*") || strings.Contains(out, "stable") {
		t.Errorf("system rules:\n%s", out)
	}
}

func TestImmutabilityUsageErrors(t *testing.T) {
	newCLIEnv(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"add without tag", []string{"immutability", "add", "--project", "team"}, `"tag" not set`},
		{"remove without id", []string{"immutability", "remove"}, "accepts 1 arg"},
		{"remove bad id", []string{"immutability", "remove", "abc"}, "want a positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runIn(t, "", tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errOut, tt.want)
			}
		})
	}
}
