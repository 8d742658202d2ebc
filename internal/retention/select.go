package retention

import (
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/policy"
)

// tagMatcher matches tag names against a prefix, a wildcard and a regular
// expression list (any entry of any list matches).
type tagMatcher struct {
	prefixes []string
	patterns []string
	regexes  []*regexp.Regexp
}

func newTagMatcher(prefixes, patterns, regexes []string) tagMatcher {
	m := tagMatcher{prefixes: prefixes, patterns: patterns}
	for _, expr := range regexes {
		// Validate refuses expressions that do not compile; one that
		// slipped through matches nothing.
		if re, err := compileAnchored(expr); err == nil {
			m.regexes = append(m.regexes, re)
		}
	}
	return m
}

func (m *tagMatcher) empty() bool {
	return len(m.prefixes) == 0 && len(m.patterns) == 0 && len(m.regexes) == 0
}

func (m *tagMatcher) match(tag string) bool {
	for _, p := range m.prefixes {
		if strings.HasPrefix(tag, p) {
			return true
		}
	}
	for _, p := range m.patterns {
		if matchWildcard(p, tag) {
			return true
		}
	}
	for _, re := range m.regexes {
		if re.MatchString(tag) {
			return true
		}
	}
	return false
}

// matchWildcard matches s against pattern, where '*' matches any run of
// characters (none included) and '?' exactly one; everything else matches
// itself. It runs in O(len(pattern)·len(s)) at worst, without recursion.
func matchWildcard(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			// Let the last star swallow one more character.
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// compiledRule is a rule ready to select units of one repository.
type compiledRule struct {
	*Rule
	include, exclude tagMatcher
}

func compileRule(r *Rule) compiledRule {
	s := &r.Selection
	return compiledRule{
		Rule:    r,
		include: newTagMatcher(s.TagPrefixList, s.TagPatternList, s.TagRegexList),
		exclude: newTagMatcher(s.ExcludeTagPrefixList, s.ExcludeTagPatternList, s.ExcludeTagRegexList),
	}
}

// inScope reports whether the rule applies to repository repo of project.
func (c *compiledRule) inScope(project, repo string) bool {
	return policy.MatchRepository(c.Repositories, project, repo)
}

// selects reports whether the rule's selection takes u.
func (c *compiledRule) selects(u *unit) bool {
	switch c.Selection.TagStatus {
	case Tagged:
		if u.tag == "" {
			return false
		}
		if !c.include.empty() && !c.include.match(u.tag) {
			return false
		}
		return !c.exclude.match(u.tag)
	case Untagged:
		return u.tag == ""
	case Any:
		return true
	}
	return false
}

// cosignSubject returns the subject digest a cosign-style tag
// ("sha256-<hex>.sig", ".att" or ".sbom") points at, and whether tag is one.
func cosignSubject(tag string) (digest.Digest, bool) {
	hexPart, ok := strings.CutPrefix(tag, "sha256-")
	if !ok {
		return "", false
	}
	dot := strings.IndexByte(hexPart, '.')
	if dot != 64 {
		return "", false
	}
	switch hexPart[dot+1:] {
	case "sig", "att", "sbom":
	default:
		return "", false
	}
	hexPart = hexPart[:dot]
	for i := 0; i < len(hexPart); i++ {
		c := hexPart[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return digest.Digest("sha256:" + hexPart), true
}
