package policy

import (
	"errors"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
)

func TestMatchRepository(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		repo     string
		want     bool
	}{
		{"no patterns: every repository of the project", nil, "p/app", true},
		{"no patterns: other project", nil, "q/app", false},
		{"project itself is no repository", nil, "p", false},
		{"prefix of another project name", nil, "pp/app", false},
		{"relative include", []string{"api/*"}, "p/api/web", true},
		{"relative include, no match", []string{"api/*"}, "p/web", false},
		{"double star", []string{"**"}, "p/a/b/c", true},
		{"exclusion wins", []string{"**", "!cache/**"}, "p/cache/x", false},
		{"exclusion only: everything else", []string{"!cache"}, "p/app", true},
		{"exclusion only: excluded", []string{"!cache"}, "p/cache", false},
		{"second include", []string{"web", "api"}, "p/api", true},
		{"malformed matches nothing", []string{"a["}, "p/a[", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MatchRepository(tc.patterns, "p", tc.repo); got != tc.want {
				t.Fatalf("MatchRepository(%q, p, %q) = %v, want %v", tc.patterns, tc.repo, got, tc.want)
			}
		})
	}
}

func TestValidateRepositoryPatterns(t *testing.T) {
	tests := []struct {
		patterns []string
		ok       bool
	}{
		{nil, true},
		{[]string{"**", "!cache/*", "api/?"}, true},
		{[]string{""}, false},
		{[]string{"!"}, false},
		{[]string{"a//b"}, false},
		{[]string{"a["}, false},
	}
	for _, tc := range tests {
		err := ValidateRepositoryPatterns(tc.patterns)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateRepositoryPatterns(%q) = %v, want ok=%v", tc.patterns, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("ValidateRepositoryPatterns(%q) = %v, not ErrInvalid", tc.patterns, err)
		}
	}
}
