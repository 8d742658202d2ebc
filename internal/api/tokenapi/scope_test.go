package tokenapi

import (
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/google/go-cmp/cmp"
)

func TestParseScopes(t *testing.T) {
	tests := []struct {
		name string
		raw  []string
		want []scopeRequest
	}{
		{"one", []string{"repository:team/app:pull"}, []scopeRequest{{"repository", "team/app", []string{"pull"}}}},
		{"several actions", []string{"repository:team/app:pull,push"}, []scopeRequest{{"repository", "team/app", []string{"pull", "push"}}}},
		{"class", []string{"repository(plugin):team/app:pull"}, []scopeRequest{{"repository", "team/app", []string{"pull"}}}},
		{"catalog", []string{"registry:catalog:*"}, []scopeRequest{{"registry", "catalog", []string{"*"}}}},
		{"space separated, merged", []string{"repository:a/b:pull repository:c/d:push", "repository:a/b:push"},
			[]scopeRequest{{"repository", "a/b", []string{"pull", "push"}}, {"repository", "c/d", []string{"push"}}}},
		{"name with a port-like colon", []string{"repository:host:5000/app:pull"}, []scopeRequest{{"repository", "host:5000/app", []string{"pull"}}}},
		{"malformed ignored", []string{"nonsense", "repository:pull", ":a:b", ""}, nil},
		{"empty actions", []string{"repository:a/b:"}, []scopeRequest{{"repository", "a/b", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseScopes(tt.raw)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(scopeRequest{})); diff != "" {
				t.Errorf("parseScopes(%q) (-want +got):\n%s", tt.raw, diff)
			}
		})
	}
}

func TestWantedActions(t *testing.T) {
	tests := []struct {
		in   []string
		want []access.Action
	}{
		{[]string{"pull"}, []access.Action{access.Pull}},
		{[]string{"*"}, []access.Action{access.Pull, access.Push, access.Delete}},
		{[]string{"push", "pull", "push"}, []access.Action{access.Push, access.Pull}},
		{[]string{"list", "manage-project", "read-scan"}, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, wantedActions(tt.in)); diff != "" {
			t.Errorf("wantedActions(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
