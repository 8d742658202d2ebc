package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// cliEnv is a running admin API with fixtures, and a private credentials
// directory for the commands.
type cliEnv struct {
	srv       *admintest.Server
	configDir string
}

// newCLIEnv starts a server with users alice (projectAdmin of team) and bob
// (guest of team), projects team (private) and open (public), and points
// BERTH_CONFIG_DIR at a fresh directory.
func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	s := admintest.Start(t)
	s.AddUser(t, "alice", "alice-password", false)
	s.AddUser(t, "bob", "bob-password", false)
	s.AddProject(t, "team", false)
	s.AddProject(t, "open", true)
	s.AddMember(t, "team", "alice", access.ProjectAdmin)
	s.AddMember(t, "team", "bob", access.Guest)
	dir := filepath.Join(t.TempDir(), "config")
	t.Setenv("BERTH_CONFIG_DIR", dir)
	return &cliEnv{srv: s, configDir: dir}
}

// runIn runs the command line with stdin as standard input and the
// servers' fixed clock.
func runIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx := WithStdin(WithClock(context.Background(), func() time.Time { return admintest.Epoch }), strings.NewReader(stdin))
	var out, errOut bytes.Buffer
	code = Main(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// login logs in as user with password, failing the test if it does not
// work.
func (e *cliEnv) login(t *testing.T, user, password string) {
	t.Helper()
	code, out, errOut := runIn(t, password+"\n", "login", e.srv.URL, "-u", user, "--password-stdin")
	if code != 0 || out != "Login Succeeded\n" {
		t.Fatalf("login as %s: exit %d, stdout %q, stderr %q", user, code, out, errOut)
	}
}

// mustRun runs a command that must succeed and returns its output.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runIn(t, "", args...)
	if code != 0 {
		t.Fatalf("berth %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update if intended):\n%s", name, diff)
	}
}
