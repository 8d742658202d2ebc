package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/berthtest"
	adminapi "github.com/berth-registry/berth/internal/client"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// adminClient returns an admin API client of p signed in as the harness's
// administrator.
func adminClient(t *testing.T, p *berthtest.Process) *adminapi.Client {
	t.Helper()
	c, err := adminapi.New(p.URL, adminapi.Options{Username: berthtest.AdminUser, Secret: berthtest.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushTestImage pushes a small image to repo:tag with reg and returns its
// manifest digest.
func pushTestImage(t *testing.T, reg *berthtest.Registry, repo, tag string) digest.Digest {
	t.Helper()
	im := newImage(t, repo+tag, v1.Platform{OS: "linux", Architecture: "amd64"})
	pushImage(t, reg, repo, tag, im)
	return im.Manifest.Desc.Digest
}

// status sends a request with c and returns the status and headers.
func status(t *testing.T, c *http.Client, method, url string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// A fresh install with no settings: no default password (one is generated
// and printed once), and nothing answers an anonymous caller.
func TestAccessDefaultInstall(t *testing.T) {
	p := start(t, berthtest.ProcessOptions{Env: []string{"BERTH_ADMIN_PASSWORD="}})
	// The password is printed just after the listening line, possibly
	// after /readyz first answers: wait for it.
	re := regexp.MustCompile(`(?m)^Created the system administrator "admin".*\n.*\n\n\s+(\S+)$`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); {
		if m = re.FindStringSubmatch(p.Stdout()); m == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if m == nil {
		t.Fatalf("no generated password on stdout:\n%s", p.Stdout())
	}
	password := m[1]
	anon := berthtest.Anonymous(p.Client)
	admin := berthtest.WithCredentials(p.Client, "admin", password)

	code, h := status(t, anon, http.MethodGet, p.URL+"/v2/")
	if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer realm="`+p.URL+`/auth/token"`) {
		t.Fatalf("anonymous /v2/: %d %q, want 401 with a Bearer challenge naming the token endpoint", code, h.Get("WWW-Authenticate"))
	}
	if code, _ := status(t, berthtest.WithCredentials(p.Client, "admin", berthtest.AdminPassword), http.MethodGet, p.URL+"/v2/"); code != http.StatusUnauthorized {
		t.Fatalf("the harness's password was not set, yet it signed in: %d", code)
	}
	if code, _ := status(t, admin, http.MethodGet, p.URL+"/v2/"); code != http.StatusOK {
		t.Fatalf("admin with the printed password: /v2/ %d, want 200", code)
	}

	reg := &berthtest.Registry{Base: p.URL, HTTP: admin}
	img := pushTestImage(t, reg, "team/app", "1.0")
	for _, target := range []string{
		"/v2/_catalog", "/v2/team/app/tags/list", "/v2/team/app/manifests/1.0",
		"/v2/team/app/manifests/" + img.String(), "/v2/team/app/referrers/" + img.String(),
	} {
		if code, _ := status(t, anon, http.MethodGet, p.URL+target); code != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s: %d, want 401", target, code)
		}
	}
	// An anonymous token request succeeds but grants nothing in a private
	// project, so the token is refused.
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/auth/token?service=berth&scope=repository:team/app:pull", nil)
	resp, err := anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tok.Token == "" {
		t.Fatalf("anonymous token request: %d %v", resp.StatusCode, err)
	}
	req, _ = http.NewRequest(http.MethodGet, p.URL+"/v2/team/app/manifests/1.0", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err = anon.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pull with an anonymous token of a private project: %d, want 401", resp.StatusCode)
	}

	// The password is only read at the first start.
	p.Stop()
	p2 := start(t, berthtest.ProcessOptions{DataDir: p.DataDir, Env: []string{"BERTH_ADMIN_PASSWORD=another-password"}})
	if strings.Contains(p2.Stdout(), "Created the system administrator") {
		t.Fatal("a restart created the administrator again")
	}
	if code, _ := status(t, berthtest.WithCredentials(p2.Client, "admin", "another-password"), http.MethodGet, p2.URL+"/v2/"); code != http.StatusUnauthorized {
		t.Fatalf("admin_password changed an existing account's password: %d", code)
	}
	if code, _ := status(t, berthtest.WithCredentials(p2.Client, "admin", password), http.MethodGet, p2.URL+"/v2/"); code != http.StatusOK {
		t.Fatalf("the first password no longer works after a restart: %d", code)
	}
}

// The OCI conformance program passes with access control on, signed in as
// a project robot (through the token flow the program follows).
func TestConformanceAsRobot(t *testing.T) {
	tool := berthtest.Tool(t, "conformance")
	p := start(t, berthtest.ProcessOptions{})
	ctx := context.Background()
	c := adminClient(t, p)
	if _, err := c.CreateProject(ctx, wire.NewProject{Name: "robotconf"}); err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRobot(ctx, "robotconf", wire.NewRobot{
		Name:        "conformance",
		Permissions: []wire.Permission{{Project: "robotconf", Actions: []string{"pull", "push", "delete", "list"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runConformanceAs(t, tool, p, nil, "robotconf", r.Name, r.Secret)
}

// berth login, then a robot created with the CLI, whose docker-config output
// a real client (crane) pulls with; the robot may not push.
func TestCLIRobotDockerConfig(t *testing.T) {
	crane := berthtest.Tool(t, "crane")
	bin := berthBinary(t)
	p := start(t, berthtest.ProcessOptions{})
	reg := p.Registry()
	pushTestImage(t, reg, "ship/app", "v1")

	cfgDir := t.TempDir()
	berth := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "BERTH_CONFIG_DIR="+cfgDir)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("berth %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return string(out)
	}
	berth(berthtest.AdminPassword+"\n", "login", p.URL, "-u", "admin", "--password-stdin")
	if fi, err := os.Stat(filepath.Join(cfgDir, "credentials.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v, want mode 0600", fi, err)
	}
	out := berth("", "robot", "create", "--project", "ship", "--name", "puller",
		"--permission", "repo=ship/*;actions=pull", "-o", "docker-config")

	dockerDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	env := newToolEnv(t).with("DOCKER_CONFIG=" + dockerDir)
	// newToolEnv's credential helper is named in its own config.json, not
	// in this one: the robot's credentials are the only ones crane sees.
	env.run(t, crane, "manifest", "--insecure", host(p)+"/ship/app:v1")
	if _, stderr, err := env.exec(crane, nil, "tag", "--insecure", host(p)+"/ship/app:v1", "v2"); err == nil {
		t.Fatal("a pull-only robot moved a tag")
	} else if !strings.Contains(stderr, "DENIED") && !strings.Contains(stderr, "UNAUTHORIZED") {
		t.Fatalf("push by a pull-only robot failed for another reason: %v\n%s", err, stderr)
	}
}
