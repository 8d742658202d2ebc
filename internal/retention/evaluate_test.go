package retention

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// dig is a stable digest for a manifest named in a test.
func dig(name string) digest.Digest {
	sum := sha256.Sum256([]byte(name))
	return digest.Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// sigTag is the cosign-style tag of a signature of the manifest named subject.
func sigTag(subject, kind string) string {
	return "sha256-" + dig(subject).Encoded() + "." + kind
}

func ago(days float64) time.Time {
	if days < 0 {
		return time.Time{}
	}
	return now.Add(-time.Duration(days * float64(day)))
}

// mf describes a manifest of a test snapshot; times are days ago.
type mf struct {
	name     string
	pushed   float64
	pulled   float64 // -1: never
	subject  string
	children []string
}

// tg describes a tag; set is days ago, -1 for the manifest's push time.
type tg struct {
	name, m string
	set     float64
}

func snapshot(repo string, tags []tg, ms []mf) (*Snapshot, map[digest.Digest]string) {
	names := map[digest.Digest]string{}
	s := &Snapshot{Repository: repo, Project: strings.SplitN(repo, "/", 2)[0]}
	pushed := map[string]float64{}
	for _, m := range ms {
		names[dig(m.name)] = m.name
		pushed[m.name] = m.pushed
		info := ManifestInfo{Digest: dig(m.name), PushedAt: ago(m.pushed), LastPulledAt: ago(m.pulled), Size: 100}
		if m.subject != "" {
			info.Subject = dig(m.subject)
		}
		for _, c := range m.children {
			info.Children = append(info.Children, dig(c))
		}
		s.Manifests = append(s.Manifests, info)
	}
	for _, t := range tags {
		set := t.set
		if set < 0 {
			set = pushed[t.m]
		}
		s.Tags = append(s.Tags, TagInfo{Name: t.name, Digest: dig(t.m), SetAt: ago(set)})
	}
	return s, names
}

// deletions lists what a plan removes, "tag NAME (rule N)" and "manifest
// NAME (rule N)", sorted.
func deletions(p *Plan, names map[digest.Digest]string) []string {
	var out []string
	for _, d := range p.Tags {
		if d.Delete {
			out = append(out, fmt.Sprintf("tag %s (rule %d)", d.Tag, d.Rule))
		}
	}
	for _, d := range p.Manifests {
		if d.Delete {
			out = append(out, fmt.Sprintf("manifest %s (rule %d)", names[d.Digest], d.Rule))
		}
	}
	sort.Strings(out)
	return out
}

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// one builds a one-rule policy document.
func one(action, selection string) string {
	return `{"rules": [{"rulePriority": 1, "action": "` + action + `", "selection": ` + selection + `}]}`
}

func never(name string, pushed float64) mf { return mf{name: name, pushed: pushed, pulled: -1} }

type evalCase struct {
	name      string
	policy    string
	repo      string // default "p/app"
	tags      []tg
	manifests []mf
	immutable map[string]string
	want      []string
}

func runEvalCases(t *testing.T, tests []evalCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := tc.repo
			if repo == "" {
				repo = "p/app"
			}
			s, names := snapshot(repo, tc.tags, tc.manifests)
			o := Options{Now: now}
			if tc.immutable != nil {
				o.Immutable = func(tag string) (string, bool) { r, ok := tc.immutable[tag]; return r, ok }
			}
			plan := Evaluate(mustParse(t, tc.policy), s, o)
			if diff := cmp.Diff(tc.want, deletions(plan, names)); diff != "" {
				t.Errorf("deletions (-want +got):\n%s", diff)
				for _, d := range append(plan.Tags, plan.Manifests...) {
					t.Logf("%s %s delete=%v rule=%d: %s", d.Tag, names[d.Digest], d.Delete, d.Rule, d.Reason)
				}
			}
		})
	}
}

// four is a repository of four images tagged v1..v4, pushed 40, 30, 20
// and 10 days ago, never pulled.
var (
	fourTags = []tg{{"v1", "a", -1}, {"v2", "b", -1}, {"v3", "c", -1}, {"v4", "d", -1}}
	fourMfs  = []mf{never("a", 40), never("b", 30), never("c", 20), never("d", 10)}
)

func TestEvaluateCountTypes(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "expire imageCountMoreThan", policy: one("expire", `{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 2}`),
			tags: fourTags, manifests: fourMfs,
			want: []string{"manifest a (rule 0)", "manifest b (rule 0)", "tag v1 (rule 1)", "tag v2 (rule 1)"}},
		{name: "retain imageCountMoreThan", policy: one("retain", `{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 3}`),
			tags: fourTags, manifests: fourMfs,
			want: []string{"manifest a (rule 0)", "tag v1 (rule 1)"}},
		{name: "expire sinceImagePushed", policy: one("expire", `{"tagStatus": "tagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 25}`),
			tags: fourTags, manifests: fourMfs,
			want: []string{"manifest a (rule 0)", "manifest b (rule 0)", "tag v1 (rule 1)", "tag v2 (rule 1)"}},
		{name: "retain sinceImagePushed", policy: one("retain", `{"tagStatus": "tagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 15}`),
			tags: fourTags, manifests: fourMfs,
			want: []string{"manifest a (rule 0)", "manifest b (rule 0)", "manifest c (rule 0)", "tag v1 (rule 1)", "tag v2 (rule 1)", "tag v3 (rule 1)"}},
		{name: "expire sinceImagePulled, never pulled falls back to push age",
			policy: one("expire", `{"tagStatus": "tagged", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 25}`),
			tags:   fourTags,
			manifests: []mf{{name: "a", pushed: 40, pulled: 1}, {name: "b", pushed: 30, pulled: -1},
				{name: "c", pushed: 20, pulled: -1}, {name: "d", pushed: 50, pulled: 35}},
			want: []string{"manifest b (rule 0)", "manifest d (rule 0)", "tag v2 (rule 1)", "tag v4 (rule 1)"}},
		{name: "retain sinceImagePulled", policy: one("retain", `{"tagStatus": "tagged", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 7}`),
			tags: fourTags,
			manifests: []mf{{name: "a", pushed: 40, pulled: 2}, {name: "b", pushed: 30, pulled: 8},
				{name: "c", pushed: 3, pulled: -1}, {name: "d", pushed: 10, pulled: -1}},
			want: []string{"manifest b (rule 0)", "manifest d (rule 0)", "tag v2 (rule 1)", "tag v4 (rule 1)"}},
		{name: "retain mostRecentlyPulled", policy: one("retain", `{"tagStatus": "tagged", "countType": "mostRecentlyPulled", "countNumber": 2}`),
			tags: fourTags,
			manifests: []mf{{name: "a", pushed: 40, pulled: 1}, {name: "b", pushed: 30, pulled: 20},
				{name: "c", pushed: 20, pulled: -1}, {name: "d", pushed: 5, pulled: -1}},
			want: []string{"manifest b (rule 0)", "manifest c (rule 0)", "tag v2 (rule 1)", "tag v3 (rule 1)"}},
		{name: "expire mostRecentlyPulled", policy: one("expire", `{"tagStatus": "tagged", "countType": "mostRecentlyPulled", "countNumber": 1}`),
			tags:      fourTags,
			manifests: []mf{{name: "a", pushed: 40, pulled: 1}, never("b", 30), never("c", 20), never("d", 10)},
			want:      []string{"manifest b (rule 0)", "manifest c (rule 0)", "manifest d (rule 0)", "tag v2 (rule 1)", "tag v3 (rule 1)", "tag v4 (rule 1)"}},
		{name: "expire always", policy: one("expire", `{"tagStatus": "tagged", "tagPrefixList": ["v1", "v3"], "countType": "always"}`),
			tags: fourTags, manifests: fourMfs,
			want: []string{"manifest a (rule 0)", "manifest c (rule 0)", "tag v1 (rule 1)", "tag v3 (rule 1)"}},
		{name: "retain always: what its selection does not take is outside its scope",
			policy: one("retain", `{"tagStatus": "tagged", "tagPrefixList": ["v1", "v3"], "countType": "always"}`),
			tags:   fourTags, manifests: fourMfs,
			want: nil},
		{name: "retain always, then expire the rest", policy: `{"rules": [
			{"rulePriority": 1, "action": "retain", "selection": {"tagStatus": "tagged", "tagPrefixList": ["v1", "v3"], "countType": "always"}},
			{"rulePriority": 2, "selection": {"tagStatus": "tagged", "countType": "always"}}]}`,
			tags: fourTags, manifests: fourMfs,
			want: []string{"manifest b (rule 0)", "manifest d (rule 0)", "tag v2 (rule 2)", "tag v4 (rule 2)"}},
		{name: "count is by manifests, not tags",
			policy:    one("expire", `{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1}`),
			tags:      []tg{{"old", "a", -1}, {"new", "b", -1}, {"latest", "b", -1}, {"stable", "b", 15}},
			manifests: []mf{never("a", 20), never("b", 10)},
			want:      []string{"manifest a (rule 0)", "tag old (rule 1)"}},
		{name: "promotion resets age (tag set recently over an old push)",
			policy:    one("expire", `{"tagStatus": "tagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30}`),
			tags:      []tg{{"promoted", "a", 1}, {"stale", "b", -1}},
			manifests: []mf{never("a", 300), never("b", 300)},
			want:      []string{"manifest b (rule 0)", "tag stale (rule 1)"}},
		{name: "promotion counts as recent for imageCountMoreThan",
			policy:    one("expire", `{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1}`),
			tags:      []tg{{"promoted", "a", 1}, {"newer-push", "b", -1}},
			manifests: []mf{never("a", 300), never("b", 5)},
			want:      []string{"manifest b (rule 0)", "tag newer-push (rule 1)"}},
		{name: "promotion counts as a use for sinceImagePulled",
			policy:    one("expire", `{"tagStatus": "tagged", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 30}`),
			tags:      []tg{{"promoted", "a", 2}, {"old", "b", -1}},
			manifests: []mf{{name: "a", pushed: 300, pulled: 100}, {name: "b", pushed: 300, pulled: 100}},
			want:      []string{"manifest b (rule 0)", "tag old (rule 1)"}},
	})
}

func TestEvaluateSelection(t *testing.T) {
	tags := []tg{{"v1.0", "a", -1}, {"v1.1-rc1", "b", -1}, {"v2.0", "c", -1}, {"dev-42", "d", -1}, {"latest", "c", -1}}
	ms := []mf{never("a", 40), never("b", 30), never("c", 20), never("d", 10)}
	always := func(lists string) string {
		return one("expire", `{"tagStatus": "tagged", `+lists+` "countType": "always"}`)
	}
	runEvalCases(t, []evalCase{
		{name: "prefix", policy: always(`"tagPrefixList": ["dev-"],`), tags: tags, manifests: ms,
			want: []string{"manifest d (rule 0)", "tag dev-42 (rule 1)"}},
		{name: "wildcard", policy: always(`"tagPatternList": ["v?.*-rc*"],`), tags: tags, manifests: ms,
			want: []string{"manifest b (rule 0)", "tag v1.1-rc1 (rule 1)"}},
		{name: "regex is anchored", policy: always(`"tagRegexList": ["v[0-9]\\.[0-9]"],`), tags: tags, manifests: ms,
			want: []string{"manifest a (rule 0)", "tag v1.0 (rule 1)", "tag v2.0 (rule 1)"}},
		{name: "any list may match", policy: always(`"tagPrefixList": ["dev"], "tagRegexList": ["v1\\..*"],`), tags: tags, manifests: ms,
			want: []string{"manifest a (rule 0)", "manifest b (rule 0)", "manifest d (rule 0)", "tag dev-42 (rule 1)", "tag v1.0 (rule 1)", "tag v1.1-rc1 (rule 1)"}},
		{name: "exclude prefix", policy: always(`"tagPrefixList": ["v"], "excludeTagPrefixList": ["v2"],`), tags: tags, manifests: ms,
			want: []string{"manifest a (rule 0)", "manifest b (rule 0)", "tag v1.0 (rule 1)", "tag v1.1-rc1 (rule 1)"}},
		{name: "exclude wildcard", policy: always(`"tagPatternList": ["v*"], "excludeTagPatternList": ["*-rc*"],`), tags: tags, manifests: ms,
			want: []string{"manifest a (rule 0)", "tag v1.0 (rule 1)", "tag v2.0 (rule 1)"}},
		{name: "exclude regex with no include: every other tag", policy: always(`"excludeTagRegexList": ["v.*", "latest"],`), tags: tags, manifests: ms,
			want: []string{"manifest d (rule 0)", "tag dev-42 (rule 1)"}},
		{name: "a manifest stays while one of its tags does", policy: always(`"tagPrefixList": ["v2"],`), tags: tags, manifests: ms,
			want: []string{"tag v2.0 (rule 1)"}},
		{name: "untagged rules leave tags alone",
			policy:    one("expire", `{"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}`),
			tags:      []tg{{"old", "a", -1}},
			manifests: []mf{never("a", 100), never("u1", 100), never("u2", 3)},
			want:      []string{"manifest u1 (rule 1)"}},
		{name: "untagged imageCountMoreThan",
			policy:    one("expire", `{"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}`),
			manifests: []mf{never("u1", 30), never("u2", 20), never("u3", 10)},
			want:      []string{"manifest u1 (rule 1)", "manifest u2 (rule 1)"}},
		{name: "any counts tags and untagged manifests together",
			policy:    one("expire", `{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 2}`),
			tags:      []tg{{"t1", "a", -1}, {"t2", "c", -1}},
			manifests: []mf{never("a", 40), never("b", 30), never("c", 20), never("u", 10)},
			want:      []string{"manifest a (rule 0)", "manifest b (rule 1)", "tag t1 (rule 1)"}},
		{name: "tagged-only policy keeps untagged manifests",
			policy:    one("expire", `{"tagStatus": "tagged", "countType": "always"}`),
			tags:      []tg{{"t", "a", -1}},
			manifests: []mf{never("a", 1), never("u", 100)},
			want:      []string{"manifest a (rule 0)", "tag t (rule 1)"}},
		{name: "tag naming a manifest missing from the snapshot",
			policy: one("expire", `{"tagStatus": "tagged", "countType": "always"}`),
			tags:   []tg{{"dangling", "ghost", 3}},
			want:   []string{"tag dangling (rule 1)"}},
	})
}
