package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// run runs the command line with args and returns the exit code and what
// it printed.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"OCI container registry", "serve", "version", "Usage:"}},
		{[]string{"help"}, []string{"serve", "version"}},
		{[]string{"serve", "--help"}, []string{
			"--addr", "--data-dir", "--metadata", "--storage", "--config", "--log-level", "--log-format",
			"--tls-cert", "--tls-key", "BERTH_", "berth serve --addr",
		}},
		{[]string{"help", "serve"}, []string{"--addr", "--config"}},
		{[]string{"version", "--help"}, []string{"--output", "table or json"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("help does not mention %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"serve", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"serve", "-z"}, "unknown shorthand flag: 'z'"},
		{[]string{"version", "--output"}, "flag needs an argument"},
		{[]string{"no-such-command"}, `unknown command "no-such-command"`},
		{[]string{"serve", "extra"}, `unknown command "extra" for "berth serve"`},
		{[]string{"version", "extra"}, `unknown command "extra" for "berth version"`},
		{[]string{"version", "-o", "yaml"}, `-o "yaml": want table or json`},
		{[]string{"serve", "--addr", "no-port", "--data-dir", "/nonexistent/berth-test"}, "addr"},
		{[]string{"serve", "--log-level", "loud", "--data-dir", "/nonexistent/berth-test"}, "log.level"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stdout %q, stderr %q)", code, out, errOut)
			}
			if !strings.HasPrefix(errOut, "berth: ") || !strings.Contains(errOut, tt.msg) {
				t.Errorf("stderr %q does not say %q", errOut, tt.msg)
			}
		})
	}
	t.Run("flag errors point at help", func(t *testing.T) {
		_, _, errOut := run(t, "serve", "--bogus")
		if !strings.Contains(errOut, "Run 'berth serve --help' for usage") {
			t.Errorf("stderr %q does not point at help", errOut)
		}
	})
}

func TestVersion(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		code, out, errOut := run(t, "version", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output %q is not JSON: %v", out, err)
		}
		want := map[string]string{"version": Version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("version (-want +got):\n%s", diff)
		}
	})
	for _, args := range [][]string{{"version"}, {"version", "-o", "table"}, {"version", "--output=table"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, _ := run(t, args...)
			want := "berth " + Version + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
			if code != 0 || out != want {
				t.Errorf("exit %d, output %q; want 0, %q", code, out, want)
			}
		})
	}
}
