package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
)

// runBerth runs the berth binary with args, env added to a clean
// environment, for at most 20 seconds (a command that should fail but
// starts serving instead is killed and reported), and returns stdout,
// stderr and the exit code.
func runBerth(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(envWithout(os.Environ(), "BERTH_"), append([]string{"HOME=" + t.TempDir()}, env...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("berth %s was still running after 20s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out.String(), errOut.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run berth %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestCommandLine checks help, usage errors (exit 2) and configuration
// errors (exit 2 with a message naming the problem).
func TestCommandLine(t *testing.T) {
	bin := berthBinary(t)
	t.Parallel()
	dir := t.TempDir()
	file := func(name, content string) string { return writeFile(t, dir, name, []byte(content)) }
	serve := func(extra ...string) []string {
		return append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data")}, extra...)
	}
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		// wantOut and wantErr must all appear in stdout and stderr.
		wantOut, wantErr []string
	}{
		{name: "help", args: []string{"--help"}, wantOut: []string{"Usage:", "serve", "version"}},
		{name: "serve help", args: []string{"serve", "--help"}, wantOut: []string{"--addr", "--data-dir", "--config", "--tls-cert", "--tls-key"}},
		{name: "version", args: []string{"version"}, wantOut: []string{"berth "}},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantErr: []string{`unknown command "frobnicate"`}},
		{name: "unknown flag", args: []string{"serve", "--no-such-flag"}, wantCode: 2, wantErr: []string{"unknown flag: --no-such-flag"}},
		{name: "unknown setting in file", args: serve("--config", file("typo.yaml", "adress: 127.0.0.1:0\n")),
			wantCode: 2, wantErr: []string{"typo.yaml", `unknown setting "adress"`}},
		{name: "invalid value in file", args: serve("--config", file("level.yaml", "log:\n  level: loud\n")),
			wantCode: 2, wantErr: []string{"log.level", `"loud"`}},
		{name: "malformed YAML", args: serve("--config", file("broken.yaml", "addr: [\n")),
			wantCode: 2, wantErr: []string{"broken.yaml"}},
		{name: "missing config file", args: serve("--config", filepath.Join(dir, "absent.yaml")),
			wantCode: 2, wantErr: []string{"absent.yaml"}},
		{name: "config file from environment", env: []string{"BERTH_CONFIG=" + file("env.yaml", "http:\n  shutdown_timeout: -1s\n")},
			args: serve(), wantCode: 2, wantErr: []string{"http.shutdown_timeout"}},
		{name: "unknown environment variable", env: []string{"BERTH_ADRESS=127.0.0.1:0"}, args: serve(),
			wantCode: 2, wantErr: []string{"BERTH_ADRESS"}},
		{name: "missing TLS key", args: serve("--tls-cert", file("cert.pem", "x")),
			wantCode: 2, wantErr: []string{"tls"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runBerth(t, bin, tc.env, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			for _, s := range tc.wantOut {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// TestDataDir checks where `berth serve` keeps its data and that it keeps
// it across a restart: in the directory --data-dir names, and with no
// flags at all in the per-user default ($XDG_DATA_HOME/berth, else
// ~/.local/share/berth). As root the default would be /var/lib/berth, so
// the default cases run as user nobody.
func TestDataDir(t *testing.T) {
	bin := berthBinary(t)
	t.Parallel()

	t.Run("flag", func(t *testing.T) {
		dir := t.TempDir()
		opts := berthtest.ProcessOptions{DataDir: dir, Env: []string{"HOME=" + t.TempDir()}}
		checkKeepsData(t, bin, opts, dir)
	})

	cred, owner := otherUser(t)
	for _, tc := range []struct {
		name string
		xdg  bool
	}{{"default XDG_DATA_HOME", true}, {"default HOME", false}} {
		t.Run(tc.name, func(t *testing.T) {
			home := ownedTempDir(t, owner)
			want := filepath.Join(home, ".local", "share", "berth")
			env := []string{"HOME=" + home, "XDG_DATA_HOME=", "BERTH_ADDR=127.0.0.1:0"}
			if tc.xdg {
				xdg := filepath.Join(home, "xdg")
				want = filepath.Join(xdg, "berth")
				env = append(env, "XDG_DATA_HOME="+xdg)
			}
			opts := berthtest.ProcessOptions{ExactArgs: []string{}, Env: env, Credential: cred}
			checkKeepsData(t, bin, opts, want)
		})
	}
}

// checkKeepsData starts berth with opts, checks that it says it keeps its
// data in dataDir, pushes a blob, stops it, and finds the blob again after
// a restart with the same options.
func checkKeepsData(t *testing.T, bin string, opts berthtest.ProcessOptions, dataDir string) {
	t.Helper()
	ctx := context.Background()
	p := berthtest.StartProcess(t, bin, opts)
	for _, want := range []string{"metadata: " + filepath.Join(dataDir, "berth.db"), "blobs:    " + filepath.Join(dataDir, "storage")} {
		if !strings.Contains(p.Stdout(), want) {
			t.Errorf("berth serve does not say %q:\n%s", want, p.Stdout())
		}
	}
	data := []byte("kept in " + dataDir)
	dgst, err := p.Registry().PushBlob(ctx, "datadir/test", data)
	if err != nil {
		t.Fatal(err)
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "berth.db")); err != nil {
		t.Errorf("no database in the data directory: %v", err)
	}
	p = berthtest.StartProcess(t, bin, opts)
	got, err := p.Registry().GetBlob(ctx, "datadir/test", dgst)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	checkBytes(t, "blob after restart", got, data)
}

// otherUser returns the credential to run berth under for the default
// data directory cases: nobody when the test runs as root (whose default
// is /var/lib/berth), else nil (the current user). owner is the uid that
// must own the home directory.
func otherUser(t *testing.T) (cred *syscall.Credential, owner int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil, os.Geteuid()
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("running as root and there is no user nobody to check the per-user default data directory: %v", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Skipf("user nobody has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid
}

// ownedTempDir returns a fresh directory that uid owns and may reach
// (t.TempDir's parents are private to the test's user).
func ownedTempDir(t *testing.T, uid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-e2e-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, -1); err != nil {
		t.Fatalf("give %s to uid %d: %v", dir, uid, err)
	}
	return dir
}
