package cli

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/google/go-cmp/cmp"
)

func TestParsePermission(t *testing.T) {
	tests := []struct {
		in, project string
		want        wire.Permission
		bad         bool
	}{
		{in: "repo=team/*;actions=pull,push", want: wire.Permission{Project: "team", Actions: []string{"pull", "push"}}},
		{in: "repo=team/app-*;actions=pull", want: wire.Permission{Project: "team", Repositories: []string{"app-*"}, Actions: []string{"pull"}}},
		{in: "repo=team/a/b; actions = pull , delete", want: wire.Permission{Project: "team", Repositories: []string{"a/b"}, Actions: []string{"pull", "delete"}}},
		{in: "actions=pull", project: "web", want: wire.Permission{Project: "web", Actions: []string{"pull"}}},
		{in: "repo=*;actions=pull", want: wire.Permission{Project: "*", Actions: []string{"pull"}}},
		{in: "repo=team", want: wire.Permission{}, bad: true},
		{in: "actions=pull", bad: true},
		{in: "pull", project: "web", bad: true},
		{in: "repo=team/*;actions=pull;mode=x", bad: true},
		{in: "repo=team/*;actions=", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePermission(tt.in, tt.project)
			if tt.bad {
				if err == nil {
					t.Errorf("accepted: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "never"},
		{in: ""},
		{in: "90d", want: now.AddDate(0, 0, 90)},
		{in: "2w", want: now.AddDate(0, 0, 14)},
		{in: "12h", want: now.Add(12 * time.Hour)},
		{in: "2027-01-01T00:00:00Z", want: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{in: "soon", bad: true},
		{in: "-5d", bad: true},
		{in: "xd", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseExpiry(tt.in, now)
			if tt.bad {
				if err == nil {
					t.Errorf("accepted: %v", got)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestDefaultSecretName(t *testing.T) {
	for in, want := range map[string]string{
		"robot$team+ci":  "berth-team-ci",
		"robot$mirror":   "berth-mirror",
		"robot$a.b+c_d":  "berth-a.b-c-d",
		"robot$team+ci-": "berth-team-ci",
	} {
		if got := defaultSecretName(in); got != want {
			t.Errorf("defaultSecretName(%q) = %q, want %q", in, got, want)
		}
	}
}
