package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
)

// parsePermission parses a --permission value,
//
//	repo=<project>/<pattern>;actions=<action>[,<action>...]
//
// where pattern is a path.Match pattern of repositories in the project
// ("*" or absent: all of them) and repo=* gives every project (system
// robots). Without repo=, the permission is for every repository of
// project (the --project flag).
func parsePermission(s, project string) (wire.Permission, error) {
	var p wire.Permission
	repo := ""
	for part := range strings.SplitSeq(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok:
			return p, fmt.Errorf("--permission %q: %q is not key=value", s, part)
		case k == "repo" || k == "repository":
			repo = strings.TrimSpace(v)
		case k == "actions":
			for a := range strings.SplitSeq(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					p.Actions = append(p.Actions, a)
				}
			}
		default:
			return p, fmt.Errorf("--permission %q: unknown key %q (want repo and actions)", s, k)
		}
	}
	if len(p.Actions) == 0 {
		return p, fmt.Errorf("--permission %q: name the actions, e.g. actions=pull,push", s)
	}
	if repo == "" {
		if project == "" {
			return p, fmt.Errorf("--permission %q: name the repositories, e.g. repo=myproject/*", s)
		}
		repo = project + "/*"
	}
	proj, pattern, _ := strings.Cut(repo, "/")
	p.Project = proj
	if pattern != "" && pattern != "*" && pattern != "**" {
		p.Repositories = []string{pattern}
	}
	return p, nil
}

// parseExpiry parses --expires: a duration from now ("90d", "12h", "2w")
// or "never"/"" for no expiry, or an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	switch s {
	case "", "never", "0":
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDays(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--expires %q: want a duration such as 90d, 12h or 2w, a time such as 2027-01-01T00:00:00Z, or never", s)
	}
	return now.Add(d).UTC(), nil
}

// parseDays parses a Go duration that may also use d (days) and w (weeks)
// as the only unit.
func parseDays(s string) (time.Duration, error) {
	for unit, size := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				return 0, err
			}
			return time.Duration(v) * size, nil
		}
	}
	return time.ParseDuration(s)
}

// pullSecret is what the kube-secret and docker-config outputs need.
type pullSecret struct {
	// Registry is the host[:port] clients pull from.
	Registry string
	Username string
	Secret   string
	// Name and Namespace of the Kubernetes Secret.
	Name, Namespace string
}

// dockerAuth is one entry of a docker config.json's auths.
type dockerAuth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Auth     string `json:"auth"`
}

type dockerConfig struct {
	Auths map[string]dockerAuth `json:"auths"`
}

func (p pullSecret) basicAuth() string {
	return base64.StdEncoding.EncodeToString([]byte(p.Username + ":" + p.Secret))
}

// writeDockerConfig writes a config.json snippet docker, podman and the
// kubelet accept: {"auths":{"<registry>":{"auth":"<base64 user:secret>"}}}.
func writeDockerConfig(w io.Writer, p pullSecret) error {
	return printJSON(w, dockerConfig{Auths: map[string]dockerAuth{p.Registry: {Auth: p.basicAuth()}}})
}

// dns1123 is the shape of Kubernetes object names and namespaces.
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// writeKubeSecret writes a kubernetes.io/dockerconfigjson Secret manifest
// (YAML) holding the robot's credentials, for imagePullSecrets.
func writeKubeSecret(w io.Writer, p pullSecret) error {
	if !dns1123.MatchString(p.Name) {
		return errors.New("--secret-name " + strconv.Quote(p.Name) + ": want a Kubernetes name (lower-case letters, digits, '-' and '.')")
	}
	if p.Namespace != "" && !dns1123.MatchString(p.Namespace) {
		return errors.New("--namespace " + strconv.Quote(p.Namespace) + ": want a Kubernetes namespace name")
	}
	cfg, err := json.Marshal(dockerConfig{Auths: map[string]dockerAuth{p.Registry: {
		Username: p.Username, Password: p.Secret, Auth: p.basicAuth(),
	}}})
	if err != nil {
		return fmt.Errorf("encode the docker config: %w", err)
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n")
	b.WriteString("  name: " + p.Name + "\n")
	if p.Namespace != "" {
		b.WriteString("  namespace: " + p.Namespace + "\n")
	}
	b.WriteString("type: kubernetes.io/dockerconfigjson\ndata:\n")
	b.WriteString("  .dockerconfigjson: " + base64.StdEncoding.EncodeToString(cfg) + "\n")
	_, err = io.WriteString(w, b.String())
	return err
}

// defaultSecretName derives a Kubernetes name from a robot account name:
// robot$platform+ci becomes berth-platform-ci.
func defaultSecretName(robot string) string {
	s := strings.ToLower(strings.TrimPrefix(robot, "robot$"))
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := "berth-" + strings.Trim(b.String(), "-.")
	return strings.TrimRight(name[:min(len(name), 253)], "-.")
}

// writeRobotSecret prints a robot with its fresh secret in format.
func writeRobotSecret(w, notes io.Writer, format string, robot wire.Robot, secret string, ps pullSecret) error {
	ps.Username, ps.Secret = robot.Name, secret
	if ps.Name == "" {
		ps.Name = defaultSecretName(robot.Name)
	}
	switch format {
	case "json":
		return printJSON(w, wire.CreatedRobot{Robot: robot, Secret: secret})
	case "kube-secret":
		return writeKubeSecret(w, ps)
	case "docker-config":
		return writeDockerConfig(w, ps)
	}
	fmt.Fprintln(notes, "Save the secret now: it is not shown again.")
	return printTable(w, []string{"NAME", "PROJECT", "EXPIRES", "SECRET"},
		[][]string{{robot.Name, robot.Project, orNever(robot.ExpiresAt), secret}})
}

func orNever(t string) string {
	if t == "" {
		return "never"
	}
	return t
}
