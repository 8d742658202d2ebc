package policy

import (
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
)

func TestMatch(t *testing.T) {
	releases := Rule{ID: 3, Tags: []string{"v*", "!*-rc*"}}
	apiOnly := Rule{ID: 4, Repositories: []string{"api/*"}, Tags: []string{"release-*"}}
	deep := Rule{ID: 5, Repositories: []string{"team/**"}, Tags: []string{"stable"}}
	middle := Rule{ID: 6, Repositories: []string{"**/cache"}, Tags: []string{"*"}}
	exclusionOnly := Rule{ID: 7, Repositories: []string{"frozen"}, Tags: []string{"!latest", "!dev-*"}}
	noTags := Rule{ID: 8, Repositories: []string{"sealed"}}
	tests := []struct {
		name   string
		rules  []Rule
		repo   string
		tag    string
		wantID int64 // 0: mutable
	}{
		{"include matches", []Rule{releases}, "api", "v1.2.3", 3},
		{"exclusion wins", []Rule{releases}, "api", "v1.2.3-rc1", 0},
		{"no include matches", []Rule{releases}, "api", "latest", 0},
		{"no repository patterns: every repository", []Rule{releases}, "a/b/c", "v2", 3},
		{"repository pattern one level", []Rule{apiOnly}, "api/backend", "release-1", 4},
		{"star does not cross slash", []Rule{apiOnly}, "api/backend/x", "release-1", 0},
		{"repository pattern needs a segment", []Rule{apiOnly}, "api", "release-1", 0},
		{"double star matches zero segments", []Rule{deep}, "team", "stable", 5},
		{"double star matches many segments", []Rule{deep}, "team/a/b/c", "stable", 5},
		{"double star prefix must match", []Rule{deep}, "teams/a", "stable", 0},
		{"double star in front", []Rule{middle}, "x/y/cache", "anything", 6},
		{"double star in front, bare", []Rule{middle}, "cache", "anything", 6},
		{"double star in front, wrong end", []Rule{middle}, "x/cache/y", "anything", 0},
		{"exclusions only: everything else immutable", []Rule{exclusionOnly}, "frozen", "v1", 7},
		{"exclusions only: excluded latest", []Rule{exclusionOnly}, "frozen", "latest", 0},
		{"exclusions only: excluded pattern", []Rule{exclusionOnly}, "frozen", "dev-42", 0},
		{"no tag patterns: every tag", []Rule{noTags}, "sealed", "whatever", 8},
		{"first matching rule in order", []Rule{apiOnly, releases}, "api/x", "release-1", 4},
		{"later rule when first does not match", []Rule{apiOnly, releases}, "web", "v9", 3},
		{"no rules", nil, "api", "v1", 0},
		{"question mark and class", []Rule{{ID: 9, Tags: []string{"v[0-9].?"}}}, "r", "v1.x", 9},
		{"malformed pattern matches nothing", []Rule{{ID: 10, Tags: []string{"v["}}}, "r", "v[", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rule, immutable := Match(tc.rules, tc.repo, tc.tag)
			if immutable != (tc.wantID != 0) {
				t.Fatalf("Match(%q, %q) immutable = %v, want %v", tc.repo, tc.tag, immutable, tc.wantID != 0)
			}
			if immutable && rule.ID != tc.wantID {
				t.Fatalf("Match(%q, %q) = rule %d, want rule %d", tc.repo, tc.tag, rule.ID, tc.wantID)
			}
			if !immutable && rule != nil {
				t.Fatalf("Match(%q, %q) returned rule %d for a mutable tag", tc.repo, tc.tag, rule.ID)
			}
		})
	}
}

func TestRuleString(t *testing.T) {
	tests := []struct {
		rule Rule
		want string
	}{
		{Rule{ID: 3, Tags: []string{"v*", "!*-rc*"}}, "rule 3: tags v*, except *-rc*"},
		{Rule{ID: 4, Repositories: []string{"api/*"}, Tags: []string{"release-*"}}, "rule 4: tags release-* in api/*"},
		{Rule{ID: 5, Repositories: []string{"**"}, Tags: []string{"!latest"}}, "rule 5: tags *, except latest"},
		{Rule{ID: 6, Repositories: []string{"a", "b"}}, "rule 6: tags * in a, b"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.rule.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		rule    Rule
		invalid bool
	}{
		{"good", Rule{Repositories: []string{"**", "api/*"}, Tags: []string{"v*", "!*-rc*"}}, false},
		{"empty lists", Rule{}, false},
		{"bad tag pattern", Rule{Tags: []string{"v["}}, true},
		{"bad exclusion", Rule{Tags: []string{"![x"}}, true},
		{"bare exclusion mark", Rule{Tags: []string{"!"}}, true},
		{"empty tag pattern", Rule{Tags: []string{""}}, true},
		{"repository exclusion", Rule{Repositories: []string{"!api"}}, true},
		{"empty repository segment", Rule{Repositories: []string{"api//x"}}, true},
		{"bad repository pattern", Rule{Repositories: []string{"api/["}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.rule)
			if tc.invalid != (err != nil) {
				t.Fatalf("Validate = %v, want invalid=%v", err, tc.invalid)
			}
			if err != nil && !errdefs.IsInvalid(err) {
				t.Fatalf("Validate error %v is not of class invalid", err)
			}
		})
	}
}
