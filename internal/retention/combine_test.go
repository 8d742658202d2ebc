package retention

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEvaluatePriorities(t *testing.T) {
	// ECR's documented example: images A [beta-1 prod-1], B [beta-2
	// prod-2], C [beta-3], pushed 10, 9 and 8 minutes ago; keep one prod
	// and one beta. Only image A expires: B keeps prod-2.
	ecrTags := []tg{{"beta-1", "A", -1}, {"prod-1", "A", -1}, {"beta-2", "B", -1}, {"prod-2", "B", -1}, {"beta-3", "C", -1}}
	ecrMfs := []mf{never("A", 0.010), never("B", 0.009), never("C", 0.008)}
	runEvalCases(t, []evalCase{
		{name: "ECR example: prod rule first", policy: `{"rules": [
			{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}},
			{"rulePriority": 2, "selection": {"tagStatus": "tagged", "tagPrefixList": ["beta"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
			tags: ecrTags, manifests: ecrMfs,
			want: []string{"manifest A (rule 0)", "tag beta-1 (rule 2)", "tag beta-2 (rule 2)", "tag prod-1 (rule 1)"}},
		{name: "an expire rule claims what it selects, even what it keeps", policy: `{"rules": [
			{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 365}},
			{"rulePriority": 2, "selection": {"tagStatus": "any", "countType": "always"}}]}`,
			tags:      []tg{{"prod-1", "a", -1}, {"prod-0", "b", -1}, {"dev", "c", -1}},
			manifests: []mf{never("a", 100), never("b", 400), never("c", 1), never("u", 1)},
			want:      []string{"manifest b (rule 0)", "manifest c (rule 0)", "manifest u (rule 2)", "tag dev (rule 2)", "tag prod-0 (rule 1)"}},
		{name: "rule order is by priority, not by position", policy: `{"rules": [
			{"rulePriority": 9, "selection": {"tagStatus": "tagged", "countType": "always"}},
			{"rulePriority": 2, "action": "retain", "selection": {"tagStatus": "tagged", "tagPrefixList": ["keep"], "countType": "always"}}]}`,
			tags:      []tg{{"keep-me", "a", -1}, {"drop-me", "b", -1}},
			manifests: []mf{never("a", 1), never("b", 1)},
			want:      []string{"manifest b (rule 0)", "tag drop-me (rule 9)"}},
		{name: "Harbor: union of two retain rules", policy: `{"rules": [
			{"rulePriority": 1, "action": "retain", "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 2}},
			{"rulePriority": 2, "action": "retain", "selection": {"tagStatus": "tagged", "countType": "mostRecentlyPulled", "countNumber": 1}}]}`,
			tags: fourTags,
			manifests: []mf{{name: "a", pushed: 40, pulled: 0.5}, {name: "b", pushed: 30, pulled: 2},
				never("c", 20), never("d", 10)},
			want: []string{"manifest b (rule 0)", "tag v2 (rule 1)"}},
		{name: "retain rules count independently (not only what earlier rules left)", policy: `{"rules": [
			{"rulePriority": 1, "action": "retain", "selection": {"tagStatus": "tagged", "tagPrefixList": ["v4", "v3"], "countType": "always"}},
			{"rulePriority": 2, "action": "retain", "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 2}}]}`,
			tags: fourTags, manifests: fourMfs,
			want: []string{"manifest a (rule 0)", "manifest b (rule 0)", "tag v1 (rule 2)", "tag v2 (rule 2)"}},
		{name: "retain scope falls through to a later expire rule that keeps", policy: `{"rules": [
			{"rulePriority": 1, "action": "retain", "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1}},
			{"rulePriority": 2, "selection": {"tagStatus": "tagged", "tagPrefixList": ["v1"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 100}}]}`,
			tags: fourTags, manifests: fourMfs,
			want: []string{"manifest b (rule 0)", "manifest c (rule 0)", "tag v2 (rule 1)", "tag v3 (rule 1)"}},
		{name: "repository scope: rule for another repository does nothing",
			policy: `{"rules": [{"rulePriority": 1, "repositories": ["web/*"], "selection": {"tagStatus": "tagged", "countType": "always"}}]}`,
			tags:   fourTags, manifests: fourMfs, repo: "p/api/x", want: nil},
		{name: "repository scope: exclusion", repo: "p/cache/x",
			policy: `{"rules": [{"rulePriority": 1, "repositories": ["**", "!cache/**"], "selection": {"tagStatus": "tagged", "countType": "always"}}]}`,
			tags:   fourTags, manifests: fourMfs, want: nil},
		{name: "repository scope: matching pattern", repo: "p/web/x",
			policy: `{"rules": [{"rulePriority": 1, "repositories": ["web/*"], "selection": {"tagStatus": "tagged", "tagPrefixList": ["v4"], "countType": "always"}}]}`,
			tags:   fourTags, manifests: fourMfs, want: []string{"manifest d (rule 0)", "tag v4 (rule 1)"}},
		{name: "retain rule out of scope does not expire anything",
			policy: `{"rules": [{"rulePriority": 1, "repositories": ["other"], "action": "retain", "selection": {"tagStatus": "any", "countType": "always"}}]}`,
			tags:   fourTags, manifests: fourMfs, want: nil},
	})
}

func TestEvaluateGraph(t *testing.T) {
	expireAll := one("expire", `{"tagStatus": "tagged", "tagPrefixList": ["go"], "countType": "always"}`)
	expireAny := one("expire", `{"tagStatus": "any", "countType": "always"}`)
	index := []mf{{name: "idx", pushed: 5, pulled: -1, children: []string{"amd64", "arm64"}}, never("amd64", 5), never("arm64", 5)}
	runEvalCases(t, []evalCase{
		{name: "kept index keeps its children", policy: expireAny,
			tags: []tg{{"keep", "idx", -1}}, manifests: index,
			immutable: map[string]string{"keep": "rule 1: tags keep"}, want: nil},
		{name: "children of a kept index are no untagged units",
			policy: one("expire", `{"tagStatus": "untagged", "countType": "always"}`),
			tags:   []tg{{"keep", "idx", -1}}, manifests: index, want: nil},
		{name: "expired index takes its untagged children",
			policy: expireAll, tags: []tg{{"go", "idx", -1}}, manifests: index,
			want: []string{"manifest amd64 (rule 0)", "manifest arm64 (rule 0)", "manifest idx (rule 0)", "tag go (rule 1)"}},
		{name: "expired index: a child with a kept tag stays",
			policy: expireAll, tags: []tg{{"go", "idx", -1}, {"arm", "arm64", -1}}, manifests: index,
			want: []string{"manifest amd64 (rule 0)", "manifest idx (rule 0)", "tag go (rule 1)"}},
		{name: "expired index: a child shared with a kept index stays",
			policy: expireAll, tags: []tg{{"go", "idx", -1}, {"other", "idx2", -1}},
			manifests: append([]mf{{name: "idx2", pushed: 1, pulled: -1, children: []string{"arm64"}}}, index...),
			want:      []string{"manifest amd64 (rule 0)", "manifest idx (rule 0)", "tag go (rule 1)"}},
		{name: "untagged index expired by an untagged rule takes its children",
			policy:    one("expire", `{"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}`),
			manifests: index,
			want:      []string{"manifest amd64 (rule 0)", "manifest arm64 (rule 0)", "manifest idx (rule 1)"}},
		{name: "referrers of a kept subject stay",
			policy: expireAll, tags: []tg{{"app", "img", -1}},
			manifests: []mf{never("img", 50), {name: "sig", pushed: 50, pulled: -1, subject: "img"}, {name: "sbom", pushed: 50, pulled: -1, subject: "img"}},
			want:      nil},
		{name: "referrers go with their subject, recursively",
			policy: expireAll, tags: []tg{{"go", "img", -1}},
			manifests: []mf{never("img", 50), {name: "sbom", pushed: 50, pulled: -1, subject: "img"},
				{name: "sbom-sig", pushed: 50, pulled: -1, subject: "sbom"}},
			want: []string{"manifest img (rule 0)", "manifest sbom (rule 0)", "manifest sbom-sig (rule 0)", "tag go (rule 1)"}},
		{name: "a tagged referrer whose tag stays outlives its subject",
			policy: expireAll, tags: []tg{{"go", "img", -1}, {"the-sbom", "sbom", -1}},
			manifests: []mf{never("img", 50), {name: "sbom", pushed: 50, pulled: -1, subject: "img"}},
			want:      []string{"manifest img (rule 0)", "tag go (rule 1)"}},
		{name: "cosign tags follow a kept subject",
			policy:    expireAny,
			tags:      []tg{{"app", "img", -1}, {sigTag("img", "sig"), "sig", -1}, {sigTag("img", "att"), "att", -1}},
			manifests: []mf{never("img", 50), never("sig", 50), never("att", 50)},
			immutable: map[string]string{"app": "rule 4: tags app"},
			want:      nil},
		{name: "cosign tags go with their subject",
			policy:    expireAll,
			tags:      []tg{{"go", "img", -1}, {sigTag("img", "sig"), "sig", -1}, {sigTag("img", "sbom"), "sbom", -1}},
			manifests: []mf{never("img", 50), never("sig", 50), never("sbom", 50)},
			want: []string{"manifest img (rule 0)", "manifest sbom (rule 0)", "manifest sig (rule 0)",
				"tag go (rule 1)", "tag " + sigTag("img", "sbom") + " (rule 0)", "tag " + sigTag("img", "sig") + " (rule 0)"}},
		{name: "cosign tags take no place in a count",
			policy:    one("expire", `{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1}`),
			tags:      []tg{{"v1", "a", -1}, {"v2", "b", -1}, {sigTag("a", "sig"), "sig", 0}},
			manifests: []mf{never("a", 20), never("b", 10), never("sig", 0)},
			want:      []string{"manifest a (rule 0)", "manifest sig (rule 0)", "tag " + sigTag("a", "sig") + " (rule 0)", "tag v1 (rule 1)"}},
		{name: "a cosign-style tag whose subject is not here is an ordinary tag",
			policy:    one("expire", `{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1}`),
			tags:      []tg{{"v1", "a", -1}, {sigTag("elsewhere", "sig"), "sig", -1}},
			manifests: []mf{never("a", 20), never("sig", 10)},
			want:      []string{"manifest a (rule 0)", "tag v1 (rule 1)"}},
		{name: "immutable tags stay though a rule selects them",
			policy: expireAll, tags: []tg{{"go-1", "a", -1}, {"go-2", "b", -1}},
			manifests: []mf{never("a", 1), never("b", 1)},
			immutable: map[string]string{"go-1": "rule 7: tags go-1"},
			want:      []string{"manifest b (rule 0)", "tag go-2 (rule 1)"}},
		{name: "an immutable cosign tag stays though its subject goes",
			policy: expireAll, tags: []tg{{"go", "img", -1}, {sigTag("img", "sig"), "sig", -1}},
			manifests: []mf{never("img", 1), never("sig", 1)},
			immutable: map[string]string{sigTag("img", "sig"): "rule 2: tags sha256-*"},
			want:      []string{"manifest img (rule 0)", "tag go (rule 1)"}},
		{name: "a tag goes while its manifest stays as a child of a kept index",
			policy: expireAll, tags: []tg{{"keep", "idx", -1}, {"go-arm", "arm64", -1}}, manifests: index,
			immutable: map[string]string{"keep": "rule 1"},
			want:      []string{"tag go-arm (rule 1)"}},
	})
}

func TestEvaluatePlan(t *testing.T) {
	s, _ := snapshot("p/app",
		[]tg{{"v2", "b", -1}, {"v1", "a", -1}, {"v1-latest", "a", 45}, {"pinned", "c", -1}},
		[]mf{never("a", 60), {name: "b", pushed: 2, pulled: 1}, never("c", 90),
			{name: "sig", pushed: 60, pulled: -1, subject: "a"}, never("stray", 10)})
	for i := range s.Manifests {
		s.Manifests[i].Size = int64(10 * (i + 1))
	}
	p := mustParse(t, `{"rules": [
		{"rulePriority": 1, "selection": {"tagStatus": "tagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30}},
		{"rulePriority": 2, "action": "retain", "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}}]}`)
	got := Evaluate(p, s, Options{Now: now, Immutable: func(tag string) (string, bool) {
		return "rule 5: tags pinned", tag == "pinned"
	}})
	want := &Plan{
		Repository: "p/app",
		Tags: []Decision{
			{Tag: "pinned", Digest: dig("c"), Rule: 1, Reason: "immutable (rule 5: tags pinned); rule 1 (expire sinceImagePushed 30 days): pushed 90 days ago"},
			{Tag: "v1", Digest: dig("a"), Delete: true, Rule: 1, Reason: "rule 1 (expire sinceImagePushed 30 days): pushed 60 days ago"},
			{Tag: "v1-latest", Digest: dig("a"), Delete: true, Rule: 1, Reason: "rule 1 (expire sinceImagePushed 30 days): tag set 45 days ago"},
			{Tag: "v2", Digest: dig("b"), Rule: 1, Reason: "rule 1 (expire sinceImagePushed 30 days): pushed 2 days ago"},
		},
		Manifests: []Decision{
			{Digest: dig("a"), Delete: true, Reason: "its tags go; no kept tag, index or subject refers to it"},
			{Digest: dig("sig"), Delete: true, Reason: "referrer of " + string(dig("a")) + ", which goes"},
			{Digest: dig("stray"), Delete: true, Rule: 2, Reason: "not retained by any rule; rule 2 (retain sinceImagePushed 7 days): pushed 10 days ago"},
		},
		DeleteBytes: 10 + 40 + 50,
	}
	sortDecisions(want.Manifests)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Evaluate (-want +got):\n%s", diff)
	}
}

func sortDecisions(ds []Decision) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].Digest < ds[j-1].Digest; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

func TestEvaluateDeterministic(t *testing.T) {
	// Ties in a count are broken by digest, whatever the snapshot order.
	p := mustParse(t, one("expire", `{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1}`))
	tags := []tg{{"x", "a", 1}, {"y", "b", 1}, {"z", "c", 1}}
	ms := []mf{never("a", 1), never("b", 1), never("c", 1)}
	s1, _ := snapshot("p/app", tags, ms)
	s2, _ := snapshot("p/app", []tg{tags[2], tags[0], tags[1]}, []mf{ms[1], ms[2], ms[0]})
	a, b := Evaluate(p, s1, Options{Now: now}), Evaluate(p, s2, Options{Now: now})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("snapshot order changes the plan (-first +second):\n%s", diff)
	}
}
