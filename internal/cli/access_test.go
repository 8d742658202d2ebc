package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/client"
	"github.com/google/go-cmp/cmp"
)

func TestLogin(t *testing.T) {
	e := newCLIEnv(t)
	path := filepath.Join(e.configDir, "credentials.json")

	t.Run("wrong password stores nothing", func(t *testing.T) {
		code, _, errOut := runIn(t, "nope-nope\n", "login", e.srv.URL, "-u", "alice", "--password-stdin")
		if code != 1 || !strings.Contains(errOut, "wrong user name or password") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("credentials written after a failed login: %v", err)
		}
	})
	t.Run("success stores 0600", func(t *testing.T) {
		e.login(t, "alice", "alice-password")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("credentials mode %v, want 0600", fi.Mode().Perm())
		}
		di, err := os.Stat(e.configDir)
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("config dir mode %v, want 0700", di.Mode().Perm())
		}
		var c credentials
		b, _ := os.ReadFile(path)
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		want := credentials{Current: e.srv.URL, Servers: map[string]login{e.srv.URL: {Username: "alice", Secret: "alice-password"}}}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("commands use the login", func(t *testing.T) {
		if out := mustRun(t, "project", "get", "team", "-o", "json"); !strings.Contains(out, `"name": "team"`) {
			t.Errorf("project get: %s", out)
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"login", e.srv.URL, "--password-stdin"},
			{"login", "ftp://example.com", "-u", "a", "--password-stdin"},
			{"login", e.srv.URL, "-u", "alice"}, // no terminal to prompt on
		} {
			if code, _, errOut := runIn(t, "pw\n", args...); code != 2 {
				t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errOut)
			}
		}
	})
	t.Run("logout", func(t *testing.T) {
		if out := mustRun(t, "logout"); !strings.Contains(out, "Removed the credentials of "+e.srv.URL) {
			t.Errorf("logout: %q", out)
		}
		code, _, errOut := runIn(t, "", "project", "list")
		if code != 1 || !strings.Contains(errOut, "not logged in") {
			t.Errorf("after logout: exit %d, stderr %q", code, errOut)
		}
	})
}

// TestCLIGoldens checks the table and JSON output of the commands against
// testdata/*.golden (go test -update rewrites them).
func TestCLIGoldens(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "admin", admintest.AdminPassword)
	mustRun(t, "project", "member", "add", "team", "--group", "qa", "--role", "developer")
	mustRun(t, "robot", "create", "--project", "team", "--name", "ci", "--description", "CI pushes",
		"--permission", "repo=team/app-*;actions=pull,push", "--expires", "90d", "-o", "json")
	tests := []struct {
		golden string
		args   []string
	}{
		{"project_list.golden", []string{"project", "list"}},
		{"project_list_json.golden", []string{"project", "list", "-o", "json"}},
		{"project_get.golden", []string{"project", "get", "team"}},
		{"member_list.golden", []string{"project", "member", "list", "team"}},
		{"member_list_json.golden", []string{"project", "member", "list", "team", "-o", "json"}},
		{"user_list.golden", []string{"user", "list"}},
		{"user_get_json.golden", []string{"user", "get", "alice", "-o", "json"}},
		{"robot_list.golden", []string{"robot", "list", "--project", "team"}},
		{"robot_get_json.golden", []string{"robot", "get", "robot$team+ci", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			golden(t, tt.golden, mustRun(t, tt.args...))
		})
	}
}

// TestRobotSecretFormats checks the four outputs of a robot's secret
// against goldens, with a fixed robot and secret.
func TestRobotSecretFormats(t *testing.T) {
	robot := wire.Robot{Name: "robot$team+puller", Project: "team", Permissions: []wire.Permission{{Project: "team", Actions: []string{"pull"}}},
		ExpiresAt: "2027-01-30T12:00:00Z", CreatedAt: "2026-11-01T12:00:00Z", CreatedBy: "alice"}
	ps := pullSecret{Registry: "registry.example.com:5000", Namespace: "prod"}
	for _, format := range secretFormats {
		t.Run(format, func(t *testing.T) {
			var out, notes bytes.Buffer
			if err := writeRobotSecret(&out, &notes, format, robot, "s3cr3t-s3cr3t", ps); err != nil {
				t.Fatal(err)
			}
			golden(t, "robot_secret_"+strings.ReplaceAll(format, "-", "_")+".golden", out.String())
		})
	}
	t.Run("bad names", func(t *testing.T) {
		for _, p := range []pullSecret{{Name: "Bad_Name"}, {Name: "ok", Namespace: "a: b"}} {
			if err := writeKubeSecret(new(bytes.Buffer), p); err == nil {
				t.Errorf("%+v accepted", p)
			}
		}
	})
}

// TestRobotKubeSecretWorks creates a robot through the CLI with -o
// kube-secret and signs in with the credentials in the manifest.
func TestRobotKubeSecretWorks(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "alice", "alice-password")
	out := mustRun(t, "robot", "create", "--project", "team", "--name", "puller", "--permission", "actions=pull",
		"-o", "kube-secret", "--namespace", "prod")
	var encoded string
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, "  .dockerconfigjson: "); ok {
			encoded = v
		}
	}
	if !strings.Contains(out, "name: berth-team-puller\n") || !strings.Contains(out, "type: kubernetes.io/dockerconfigjson\n") {
		t.Errorf("manifest:\n%s", out)
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatalf("decode %q: %v", encoded, err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(e.srv.URL, "http://")
	a, ok := cfg.Auths[host]
	if !ok || a.Username != "robot$team+puller" {
		t.Fatalf("auths %+v, want an entry for %s", cfg.Auths, host)
	}
	c, err := client.New(e.srv.URL, client.Options{Username: a.Username, Secret: a.Password})
	if err != nil {
		t.Fatal(err)
	}
	me, err := c.Me(context.Background())
	if err != nil {
		t.Fatalf("the robot's secret does not sign in: %v", err)
	}
	if me.Kind != "robot" || me.Name != "robot$team+puller" {
		t.Errorf("me %+v", me)
	}
}

func TestGuestDeniedManagement(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "bob", "bob-password")
	for _, args := range [][]string{
		{"project", "member", "add", "team", "--user", "bob", "--role", "projectAdmin"},
		{"project", "member", "remove", "team", "--user", "alice"},
		{"project", "update", "team", "--public"},
		{"project", "delete", "team"},
		{"robot", "create", "--project", "team", "--name", "x", "--permission", "actions=pull"},
		{"user", "list"},
		{"user", "delete", "alice"},
		{"audit", "list", "--project", "team"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runIn(t, "", args...)
			if code != 1 || !strings.Contains(errOut, "berth: ") {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
}

func TestAccessUsageErrors(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "admin", admintest.AdminPassword)
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"project", "list", "-o", "yaml"}, `-o "yaml": want table, json`},
		{[]string{"robot", "create", "--name", "x", "--permission", "pull"}, "is not key=value"},
		{[]string{"robot", "create", "--name", "x", "--permission", "repo=team/*"}, "name the actions"},
		{[]string{"robot", "create", "--project", "team", "--name", "x", "--permission", "actions=pull", "--expires", "soon"}, "--expires"},
		{[]string{"robot", "create", "--name", "x"}, `required flag(s) "permission"`},
		{[]string{"project", "member", "add", "team", "--user", "a", "--group", "b", "--role", "guest"}, "exactly one of --user or --group"},
		{[]string{"project", "update", "team"}, "nothing to change"},
		{[]string{"user", "update", "alice"}, "nothing to change"},
		{[]string{"user", "create", "erin"}, "not a terminal"},
		{[]string{"audit", "list", "--since", "later"}, "--since"},
		{[]string{"robot", "update", "robot$team+ci"}, "nothing to change"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runIn(t, "", tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.msg) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tt.msg)
			}
		})
	}
}

func TestAccessCommandsFlow(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "admin", admintest.AdminPassword)
	code, out, errOut := runIn(t, "erin-password\n", "user", "create", "erin", "--email", "erin@example.com", "--password-stdin", "-o", "json")
	if code != 0 || !strings.Contains(out, `"name": "erin"`) {
		t.Fatalf("user create: exit %d %q %q", code, out, errOut)
	}
	mustRun(t, "project", "create", "web", "--public")
	mustRun(t, "project", "member", "add", "web", "--user", "erin", "--role", "maintainer")
	if out := mustRun(t, "user", "cli-secret", "erin", "-o", "json"); !strings.Contains(out, `"secret"`) {
		t.Errorf("cli-secret: %s", out)
	}
	out = mustRun(t, "robot", "create", "--project", "web", "--name", "ci", "--permission", "actions=pull,push", "-o", "docker-config")
	if !strings.Contains(out, `"auths"`) {
		t.Errorf("docker-config: %s", out)
	}
	mustRun(t, "robot", "update", "robot$web+ci", "--disabled")
	if out := mustRun(t, "robot", "get", "robot$web+ci", "-o", "json"); !strings.Contains(out, `"disabled": true`) {
		t.Errorf("robot not disabled: %s", out)
	}
	if out := mustRun(t, "robot", "secret", "robot$web+ci", "-o", "json"); !strings.Contains(out, `"secret"`) {
		t.Errorf("robot secret: %s", out)
	}
	mustRun(t, "robot", "delete", "robot$web+ci")
	mustRun(t, "project", "member", "remove", "web", "--user", "erin")
	mustRun(t, "user", "update", "erin", "--disabled")
	mustRun(t, "user", "delete", "erin")
	mustRun(t, "project", "delete", "web")
	if err := e.srv.Audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "audit", "list", "--actor", "admin", "--action", "project.delete", "-o", "json")
	var l wire.AuditList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Events) != 1 || l.Events[0].Resource != "web" || l.Events[0].Remote != "127.0.0.1" {
		t.Errorf("audit: %+v", l.Events)
	}
	if out := mustRun(t, "audit", "export", "--project", "web"); strings.Count(out, "\n") < 5 || !strings.Contains(out, `"action":"robot.create"`) {
		t.Errorf("export:\n%s", out)
	}
	if out := mustRun(t, "audit", "list", "--limit", "1"); strings.Count(out, "\n") != 2 {
		t.Errorf("audit list --limit 1:\n%s", out)
	}
}

func TestAccessHelp(t *testing.T) {
	root := NewRootCommand()
	var walk func(args []string)
	var all [][]string
	walk = func(args []string) {
		cmd, _, err := root.Find(args)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, args)
		for _, sub := range cmd.Commands() {
			if sub.Name() != "help" && sub.Name() != "completion" {
				walk(append(append([]string{}, args...), sub.Name()))
			}
		}
	}
	for _, top := range []string{"login", "logout", "project", "user", "robot", "audit"} {
		walk([]string{top})
	}
	for _, args := range all {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, _ := runIn(t, "", append(args, "--help")...)
			if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "berth ") {
				t.Errorf("exit %d; help lacks an example:\n%s", code, out)
			}
		})
	}
}
