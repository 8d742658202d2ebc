package retention

import (
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// bigSnapshot is one repository with tags tags over manifests manifests:
// every tenth manifest is an index of the next two, every twentieth has a
// signature referrer, and tags spread over the rest, two a manifest.
func bigSnapshot(tags, manifests int) *Snapshot {
	s := &Snapshot{Repository: "p/big", Project: "p"}
	ds := make([]digest.Digest, manifests)
	for i := range ds {
		ds[i] = digest.FromString(fmt.Sprint("m", i))
	}
	for i := range manifests {
		m := ManifestInfo{Digest: ds[i], PushedAt: now.Add(-time.Duration(i) * time.Minute), Size: 1000}
		if i%3 == 0 {
			m.LastPulledAt = now.Add(-time.Duration(i%500) * time.Hour)
		}
		switch {
		case i%10 == 0 && i+2 < manifests:
			m.Children = []digest.Digest{ds[i+1], ds[i+2]}
		case i%20 == 5:
			m.Subject = ds[i-1]
		}
		s.Manifests = append(s.Manifests, m)
	}
	for i := range tags {
		m := (i / 2) % manifests
		name := fmt.Sprintf("v%d.%d", i/100, i%100)
		if i%7 == 0 {
			name = fmt.Sprintf("dev-%d", i)
		}
		s.Tags = append(s.Tags, TagInfo{Name: name, Digest: ds[m], SetAt: now.Add(-time.Duration(i%1000) * time.Hour)})
	}
	return s
}

func BenchmarkEvaluate100kTags(b *testing.B) {
	p, err := Parse([]byte(`{"rules": [
		{"rulePriority": 1, "action": "retain", "selection": {"tagStatus": "tagged", "tagRegexList": ["v[0-9]+\\.0"], "countType": "always"}},
		{"rulePriority": 2, "selection": {"tagStatus": "tagged", "tagPrefixList": ["dev-"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}},
		{"rulePriority": 3, "action": "retain", "selection": {"tagStatus": "tagged", "excludeTagPatternList": ["*-rc*"], "countType": "imageCountMoreThan", "countNumber": 5000}},
		{"rulePriority": 4, "action": "retain", "selection": {"tagStatus": "tagged", "countType": "mostRecentlyPulled", "countNumber": 1000}},
		{"rulePriority": 5, "selection": {"tagStatus": "untagged", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 7}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	const tags = 100_000
	s := bigSnapshot(tags, 50_000)
	o := Options{Now: now, Immutable: func(tag string) (string, bool) { return "rule 1", tag == "v7.7" }}
	b.ReportAllocs()
	b.ResetTimer()
	var plan *Plan
	for b.Loop() {
		plan = Evaluate(p, s, o)
	}
	b.ReportMetric(float64(tags)*float64(b.N)/b.Elapsed().Seconds(), "tags/s")
	if len(plan.Tags) != tags {
		b.Fatalf("plan has %d tag decisions, want %d", len(plan.Tags), tags)
	}
}
