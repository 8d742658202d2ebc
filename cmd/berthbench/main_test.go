package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/bench"
)

func TestDispatch(t *testing.T) {
	dir := t.TempDir()
	result := filepath.Join(dir, "distribution-r1.json")
	rep := bench.Report{Tool: "berthbench", Label: bench.LabelDistribution, Round: 1, Results: []bench.Result{{
		Name: "push-mono", Scenario: "push-mono", Unit: bench.MiBPerSec, Ops: 0, Errors: 1, WallSeconds: 1,
		ErrorSamples: []bench.ErrorSample{{Kind: "PUT blob: HTTP 500 ", Example: "PUT blob: HTTP 500: boom", Count: 1}},
	}}}
	var buf bytes.Buffer
	if err := bench.WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(result, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	unlabelled := filepath.Join(dir, "unlabelled.json")
	if err := os.WriteFile(unlabelled, []byte(`{"tool":"berthbench"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"help", []string{"help"}, exitOK, []string{"berthbench report"}},
		{"list", []string{"--list"}, exitOK, []string{"push-mono", "large-blob", "opt-in"}},
		{"bad output format", []string{"run", "-o", "yaml"}, exitFatal, nil},
		{"unknown scenario", []string{"--scenario", "nope"}, exitFatal, nil},
		{"bad registry", []string{"--registry", "ftp://x", "--scenario", "pull"}, exitFatal, nil},
		{"report without results", []string{"report"}, exitOK, []string{"NOT YET RUN", "## `catalog`"}},
		{"report of one server", []string{"report", result}, exitOK, []string{"NOT YET RUN", "PUT blob: HTTP 500"}},
		{"report refuses one server", []string{"report", "--require-both", result}, exitFatal, nil},
		{"report of an unlabelled result", []string{"report", unlabelled}, exitFatal, nil},
		{"raws3 without endpoint", []string{"raws3"}, exitFatal, nil},
		{"raws3 with tiny parts", []string{"raws3", "--endpoint", "http://127.0.0.1:1", "--part-size", "1MiB"}, exitFatal, nil},
		{"show prints errors", []string{"show", result}, exitOK, []string{"push-mono", "ERRORS", "PUT blob: HTTP 500: boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}
