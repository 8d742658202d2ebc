package hygiene_test

import (
	"testing"

	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/hygiene"
	"github.com/google/go-cmp/cmp"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		in   hygiene.Input
		opts hygiene.Options
		want []string
	}{
		{"clean", hygiene.Input{User: "app", Size: 10 << 20, Tags: []string{"1.2.3"}}, hygiene.Options{}, nil},
		{"no user", hygiene.Input{Size: 1}, hygiene.Options{}, []string{hygiene.RuleNoUser}},
		{"root by name and group", hygiene.Input{User: "root:root"}, hygiene.Options{}, []string{hygiene.RuleRunsAsRoot}},
		{"uid 0", hygiene.Input{User: "0"}, hygiene.Options{}, []string{hygiene.RuleRunsAsRoot}},
		{"uid 1000", hygiene.Input{User: "1000:1000"}, hygiene.Options{}, nil},
		{"large with default limit", hygiene.Input{User: "app", Size: 2 << 30}, hygiene.Options{}, []string{hygiene.RuleLargeImage}},
		{"large with own limit", hygiene.Input{User: "app", Size: 200}, hygiene.Options{MaxSize: 100}, []string{hygiene.RuleLargeImage}},
		{"at the limit", hygiene.Input{User: "app", Size: 100}, hygiene.Options{MaxSize: 100}, nil},
		{"latest", hygiene.Input{User: "app", Tags: []string{"v1", "latest"}}, hygiene.Options{}, []string{hygiene.RuleLatestTag}},
		{"all", hygiene.Input{Size: 300, Tags: []string{"latest"}}, hygiene.Options{MaxSize: 100},
			[]string{hygiene.RuleLargeImage, hygiene.RuleLatestTag, hygiene.RuleNoUser}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range hygiene.Check(tt.in, tt.opts) {
				if f.Kind != scan.KindHygiene || f.Title == "" {
					t.Errorf("finding %+v: want kind hygiene and a title", f)
				}
				got = append(got, f.Rule)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}
