package policy

import (
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
)

// MatchRepository reports whether repository repo of project matches the
// repository patterns of a project's rule (retention rules use it). The
// patterns are relative to the project and use the grammar of Rule; one
// that starts with '!' is an exclusion. repo matches when it is in the
// project, no exclusion matches it, and either an include pattern matches
// it or there is none (empty patterns, or exclusions only, match every
// repository of the project). A malformed pattern matches nothing.
func MatchRepository(patterns []string, project, repo string) bool {
	rel, ok := strings.CutPrefix(repo, project+"/")
	if !ok || rel == "" {
		return false
	}
	included, anyInclude := false, false
	for _, p := range patterns {
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			if matchPattern(ex, rel) {
				return false
			}
			continue
		}
		anyInclude = true
		if !included && matchPattern(p, rel) {
			included = true
		}
	}
	return included || !anyInclude
}

// ValidateRepositoryPatterns checks patterns as MatchRepository reads them:
// each, after an optional '!', must be a non-empty valid pattern. Errors are
// of class errdefs.ErrInvalid and name the bad pattern.
func ValidateRepositoryPatterns(patterns []string) error {
	for _, p := range patterns {
		if err := validPattern(strings.TrimPrefix(p, "!")); err != nil {
			return errdefs.Invalid("repository pattern %q: %v", p, err)
		}
	}
	return nil
}
