// Package policy holds Berth's lifecycle decisions as pure functions over
// plain values: which tags are immutable (this file), and later quotas,
// retention and gates. Nothing here does I/O; the registry and the admin API
// load rules from the metadata store and ask this package what they mean.
package policy

import (
	"fmt"
	"path"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
)

// Rule is a tag immutability rule in the shape of ECR's
// IMMUTABLE_WITH_EXCLUSION and Harbor's immutability rules: a tag of a
// repository that matches one of Repositories is immutable when it matches
// one of the include patterns of Tags and none of its exclusions.
//
// Patterns are path.Match patterns matched segment by segment ('/'
// separates segments), where a whole segment "**" matches any number of
// segments, none included: "**" matches every repository, "team/**" matches
// "team" and everything under it, "**/cache" any repository ending in
// "cache". A tag pattern that starts with '!' is an exclusion. A rule whose
// Tags are only exclusions (or empty) includes every tag, as ECR's
// exclusion-only filters do; a rule with no Repositories applies to every
// repository.
//
// Repository patterns of a project's rules are relative to the project
// ("api/*" in project "platform" matches "platform/api/backend"); those of
// a system-wide rule match the full repository name.
type Rule struct {
	// ID identifies the rule in messages ("rule 3").
	ID int64
	// Repositories are repository patterns; empty means all.
	Repositories []string
	// Tags are tag patterns, '!' marking an exclusion.
	Tags []string
}

// Match returns the first rule of rules (in order) that makes tag of
// repository repo immutable, and whether one does. repo is the name the
// rules' repository patterns are relative to (see Rule). A malformed
// pattern matches nothing (Validate refuses such rules when they are
// stored).
func Match(rules []Rule, repo, tag string) (rule *Rule, immutable bool) {
	for i := range rules {
		if rules[i].Matches(repo, tag) {
			return &rules[i], true
		}
	}
	return nil, false
}

// Matches reports whether r makes tag of repository repo immutable.
func (r *Rule) Matches(repo, tag string) bool {
	if !r.matchesRepository(repo) {
		return false
	}
	included, anyInclude := false, false
	for _, p := range r.Tags {
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			if matchPattern(ex, tag) {
				return false
			}
			continue
		}
		anyInclude = true
		if !included && matchPattern(p, tag) {
			included = true
		}
	}
	return included || !anyInclude
}

func (r *Rule) matchesRepository(repo string) bool {
	if len(r.Repositories) == 0 {
		return true
	}
	for _, p := range r.Repositories {
		if matchPattern(p, repo) {
			return true
		}
	}
	return false
}

// String describes the rule for messages, e.g. "rule 3: tags v*, except
// *-rc*" or "rule 4: tags release-* in api/*".
func (r *Rule) String() string {
	var inc, exc []string
	for _, p := range r.Tags {
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			exc = append(exc, ex)
		} else {
			inc = append(inc, p)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rule %d: tags ", r.ID)
	if len(inc) == 0 {
		b.WriteString("*")
	} else {
		b.WriteString(strings.Join(inc, ", "))
	}
	if len(exc) > 0 {
		b.WriteString(", except " + strings.Join(exc, ", "))
	}
	if len(r.Repositories) > 0 && !(len(r.Repositories) == 1 && r.Repositories[0] == "**") {
		b.WriteString(" in " + strings.Join(r.Repositories, ", "))
	}
	return b.String()
}

// Validate checks the patterns of r: each must be non-empty and a valid
// path.Match pattern, a repository pattern must not be an exclusion, and a
// tag exclusion must name a pattern after its '!'. Errors are of class
// errdefs.ErrInvalid and name the bad pattern.
func Validate(r Rule) error {
	for _, p := range r.Repositories {
		if strings.HasPrefix(p, "!") {
			return errdefs.Invalid("repository pattern %q: exclusions are for tags only", p)
		}
		if err := validPattern(p); err != nil {
			return errdefs.Invalid("repository pattern %q: %v", p, err)
		}
	}
	for _, p := range r.Tags {
		if err := validPattern(strings.TrimPrefix(p, "!")); err != nil {
			return errdefs.Invalid("tag pattern %q: %v", p, err)
		}
	}
	return nil
}

func validPattern(p string) error {
	if p == "" {
		return fmt.Errorf("empty pattern")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			return fmt.Errorf("empty path segment")
		}
		if _, err := path.Match(seg, ""); err != nil {
			return err
		}
	}
	return nil
}

// matchPattern matches name against pattern segment by segment, a "**"
// segment standing for any number of segments.
func matchPattern(pattern, name string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// Collapse repeated "**" and try every split point.
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true
			}
			for i := range len(name) + 1 {
				if matchSegments(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		ok, err := path.Match(pat[0], name[0])
		if err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
