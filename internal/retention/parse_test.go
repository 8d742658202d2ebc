package retention

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/errdefs"
)

// ecrPolicy is an ECR lifecycle policy written as ECR documents them.
const ecrPolicy = `{
  "rules": [
    {
      "rulePriority": 1,
      "description": "Keep last 30 images tagged prod",
      "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["prod"],
        "countType": "imageCountMoreThan",
        "countNumber": 30
      },
      "action": {"type": "expire"}
    },
    {
      "rulePriority": 2,
      "description": "Expire untagged images older than 14 days",
      "selection": {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 14
      },
      "action": {"type": "expire"}
    }
  ]
}`

func TestParseECR(t *testing.T) {
	p, err := Parse([]byte(ecrPolicy))
	if err != nil {
		t.Fatal(err)
	}
	want := &Policy{Rules: []Rule{
		{Priority: 1, Description: "Keep last 30 images tagged prod", Action: Expire, Selection: Selection{
			TagStatus: Tagged, TagPrefixList: []string{"prod"}, CountType: CountMoreThan, CountNumber: 30}},
		{Priority: 2, Description: "Expire untagged images older than 14 days", Action: Expire, Selection: Selection{
			TagStatus: Untagged, CountType: SincePushed, CountUnit: "days", CountNumber: 14}},
	}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Fatalf("Parse (-want +got):\n%s", diff)
	}
	// What Parse reads it writes back in a form Parse reads again.
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal) = %v (%s)", err, out)
	}
	if diff := cmp.Diff(p, again); diff != "" {
		t.Fatalf("round trip (-first +second):\n%s", diff)
	}
}

func TestParseHarborStyle(t *testing.T) {
	p, err := Parse([]byte(`{"rules": [
	  {"rulePriority": 1, "repositories": ["**", "!cache/**"], "action": "retain",
	   "selection": {"tagStatus": "tagged", "tagRegexList": ["v[0-9]+\\.[0-9]+"], "excludeTagPatternList": ["*-rc*"],
	                 "countType": "mostRecentlyPulled", "countNumber": 5}},
	  {"rulePriority": 2, "action": "retain", "selection": {"tagStatus": "any", "countType": "always"}}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Rules[0].Action; got != Retain {
		t.Fatalf("action = %q, want retain", got)
	}
}

func TestParseErrors(t *testing.T) {
	rule := func(sel string) string {
		return `{"rules": [{"rulePriority": 1, "selection": ` + sel + `}]}`
	}
	tests := []struct {
		name, doc string
		want      string // a fragment of the message
	}{
		{"not JSON", `rules`, "retention policy"},
		{"null", ` null`, "JSON object"},
		{"empty", ``, "JSON object"},
		{"unknown top-level field", `{"rules": [], "extra": 1}`, "unknown field"},
		{"unknown rule field", `{"rules": [{"rulePriority": 1, "priority": 2, "selection": {"tagStatus": "any", "countType": "always"}}]}`, "unknown field"},
		{"unknown selection field", rule(`{"tagStatus": "any", "countType": "always", "tagList": []}`), "unknown field"},
		{"trailing data", `{"rules": []} {}`, "trailing data"},
		{"zero priority", `{"rules": [{"rulePriority": 0, "selection": {"tagStatus": "any", "countType": "always"}}]}`, "rulePriority must be a positive"},
		{"duplicate priority", `{"rules": [
			{"rulePriority": 3, "selection": {"tagStatus": "any", "countType": "always"}},
			{"rulePriority": 3, "selection": {"tagStatus": "any", "countType": "always"}}]}`, "rule 3: rulePriority 3 is used"},
		{"unknown action", `{"rules": [{"rulePriority": 1, "action": "delete", "selection": {"tagStatus": "any", "countType": "always"}}]}`, "rule 1: action"},
		{"action object extra field", `{"rules": [{"rulePriority": 1, "action": {"type": "expire", "x": 1}, "selection": {"tagStatus": "any", "countType": "always"}}]}`, "unknown field"},
		{"action wrong type", `{"rules": [{"rulePriority": 1, "action": 7, "selection": {"tagStatus": "any", "countType": "always"}}]}`, "action"},
		{"missing tagStatus", rule(`{"countType": "always"}`), "selection.tagStatus: missing"},
		{"unknown tagStatus", rule(`{"tagStatus": "all", "countType": "always"}`), "selection.tagStatus: unknown"},
		{"tag list with untagged", rule(`{"tagStatus": "untagged", "tagPrefixList": ["v"], "countType": "always"}`), "selection.tagPrefixList"},
		{"exclude list with any", rule(`{"tagStatus": "any", "excludeTagRegexList": ["v"], "countType": "always"}`), "selection.excludeTagRegexList"},
		{"bad regex", rule(`{"tagStatus": "tagged", "tagRegexList": ["v("], "countType": "always"}`), "selection.tagRegexList"},
		{"empty prefix", rule(`{"tagStatus": "tagged", "tagPrefixList": [""], "countType": "always"}`), "empty entry"},
		{"missing countType", rule(`{"tagStatus": "any"}`), "selection.countType: missing"},
		{"unknown countType", rule(`{"tagStatus": "any", "countType": "imageCountLessThan", "countNumber": 1}`), "selection.countType: unknown"},
		{"since without days", rule(`{"tagStatus": "any", "countType": "sinceImagePushed", "countNumber": 1}`), "selection.countUnit"},
		{"since in hours", rule(`{"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "hours", "countNumber": 1}`), "selection.countUnit"},
		{"count with unit", rule(`{"tagStatus": "any", "countType": "imageCountMoreThan", "countUnit": "days", "countNumber": 1}`), "selection.countUnit"},
		{"count zero", rule(`{"tagStatus": "any", "countType": "imageCountMoreThan"}`), "selection.countNumber"},
		{"count negative", rule(`{"tagStatus": "any", "countType": "mostRecentlyPulled", "countNumber": -2}`), "selection.countNumber"},
		{"days too many", rule(`{"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 40000}`), "selection.countNumber"},
		{"bad repository pattern", `{"rules": [{"rulePriority": 1, "repositories": ["a["], "selection": {"tagStatus": "any", "countType": "always"}}]}`, "repositories"},
		{"too large", `{"rules": [], "x": "` + strings.Repeat("a", MaxPolicySize) + `"}`, "bytes, at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", p)
			}
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	if err := Validate(nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("Validate(nil) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(ecrPolicy))
	f.Add([]byte(`{"rules": [{"rulePriority": 1, "action": "retain", "selection": {"tagStatus": "tagged", "tagPatternList": ["v*"], "countType": "always"}}]}`))
	f.Add([]byte(`{"rules": [{"rulePriority": 2, "action": {"type": "expire"}, "selection": {"tagStatus": "tagged", "tagRegexList": ["(a|b)+"], "countType": "mostRecentlyPulled", "countNumber": 3}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("Parse error %v is not ErrInvalid", err)
			}
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("a parsed policy does not parse again: %v\n%s", err, out)
		}
		if diff := cmp.Diff(p, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
