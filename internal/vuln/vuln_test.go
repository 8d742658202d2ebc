package vuln

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
)

func TestParseSeverity(t *testing.T) {
	tests := []struct {
		in   string
		want Severity
	}{
		{"", SeverityUnknown},
		{"unknown", SeverityUnknown},
		{"Low", SeverityLow},
		{"negligible", SeverityLow},
		{"MODERATE", SeverityMedium},
		{"medium", SeverityMedium},
		{"important", SeverityHigh},
		{"HIGH", SeverityHigh},
		{" critical ", SeverityCritical},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSeverity(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseSeverity(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if back, err := ParseSeverity(got.String()); err != nil || back != got {
				t.Errorf("ParseSeverity(String()) = %v, %v; want %v", back, err, got)
			}
		})
	}
	if _, err := ParseSeverity("dreadful"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("ParseSeverity(dreadful) error = %v, want ErrInvalid", err)
	}
	if !(SeverityUnknown < SeverityLow && SeverityLow < SeverityMedium && SeverityMedium < SeverityHigh && SeverityHigh < SeverityCritical) {
		t.Error("severities are not ordered")
	}
}

func TestSeverityJSON(t *testing.T) {
	b, err := json.Marshal(Finding{ID: "X", Severity: SeverityHigh})
	if err != nil {
		t.Fatal(err)
	}
	var f Finding
	if err := json.Unmarshal(b, &f); err != nil || f.Severity != SeverityHigh {
		t.Fatalf("round trip of %s = %v, %v", b, f.Severity, err)
	}
}

func TestSeverityFromCVSS(t *testing.T) {
	tests := []struct {
		score float64
		want  Severity
	}{{0, SeverityUnknown}, {0.1, SeverityLow}, {3.9, SeverityLow}, {4, SeverityMedium}, {6.9, SeverityMedium}, {7, SeverityHigh}, {8.9, SeverityHigh}, {9, SeverityCritical}, {10, SeverityCritical}}
	for _, tc := range tests {
		if got := SeverityFromCVSS(tc.score); got != tc.want {
			t.Errorf("SeverityFromCVSS(%v) = %v, want %v", tc.score, got, tc.want)
		}
	}
}

func TestIndexName(t *testing.T) {
	tests := []struct{ eco, in, want string }{
		{"PyPI", "Requests", "requests"},
		{"PyPI", "zope.interface", "zope-interface"},
		{"PyPI", "Foo__Bar-.baz", "foo-bar-baz"},
		{"npm", "@Scope/Pkg", "@Scope/Pkg"},
		{"Go", "golang.org/x/text", "golang.org/x/text"},
	}
	for _, tc := range tests {
		if got := IndexName(tc.eco, tc.in); got != tc.want {
			t.Errorf("IndexName(%s, %q) = %q, want %q", tc.eco, tc.in, got, tc.want)
		}
	}
}
