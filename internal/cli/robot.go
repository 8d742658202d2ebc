package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/client"
	"github.com/spf13/cobra"
)

func newRobotCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "robot",
		Short: "Manage robot accounts for CI and cluster pull secrets",
		Long: `Manage robot accounts: machine credentials with explicit permissions, an optional
expiry and a secret shown once. A project robot (robot$<project>+<name>) works in
its project only; a system robot (robot$<name>, system administrators only) may be
given several projects or all of them.`,
		Example: `  berth robot create --project platform --name ci --permission 'repo=platform/*;actions=pull,push' --expires 90d
  berth robot create --project platform --name puller --permission 'actions=pull' -o kube-secret --namespace prod`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRobotListCommand(), newRobotCreateCommand(), newRobotGetCommand(),
		newRobotUpdateCommand(), newRobotDeleteCommand(), newRobotSecretCommand())
	return cmd
}

func printRobots(w io.Writer, format string, robots []wire.Robot) error {
	if format == "json" {
		return printJSON(w, robots)
	}
	rows := make([][]string, 0, len(robots))
	for _, r := range robots {
		rows = append(rows, []string{r.Name, permissionsText(r.Permissions), orNever(r.ExpiresAt),
			yesNo(r.Disabled), r.LastUsedAt, r.Description})
	}
	return printTable(w, []string{"NAME", "PERMISSIONS", "EXPIRES", "DISABLED", "LAST USED", "DESCRIPTION"}, rows)
}

// permissionsText shows permissions as --permission takes them.
func permissionsText(ps []wire.Permission) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		repos := p.Repositories
		if len(repos) == 0 {
			repos = []string{"*"}
		}
		for _, r := range repos {
			repo := p.Project + "/" + r
			if p.Project == "*" {
				repo = "*"
			}
			parts = append(parts, "repo="+repo+";actions="+strings.Join(p.Actions, ","))
		}
	}
	return strings.Join(parts, " ")
}

// secretFlags are the flags of the commands that print a robot's secret.
type secretFlags struct {
	registry, name, namespace string
}

func (s *secretFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.registry, "registry", "", "registry host[:port] in kube-secret and docker-config output (default: the server's)")
	cmd.Flags().StringVar(&s.name, "secret-name", "", "name of the Kubernetes Secret (default berth-<project>-<name>)")
	cmd.Flags().StringVar(&s.namespace, "namespace", "", "namespace of the Kubernetes Secret (default: none, kubectl's current)")
}

func (s *secretFlags) pullSecret(c *client.Client) pullSecret {
	reg := s.registry
	if reg == "" {
		if u, err := url.Parse(c.Server()); err == nil {
			reg = u.Host
		}
	}
	return pullSecret{Registry: reg, Name: s.name, Namespace: s.namespace}
}

var secretFormats = []string{"table", "json", "kube-secret", "docker-config"}

func newRobotListCommand() *cobra.Command {
	var r *remote
	var project string
	cmd := &cobra.Command{
		Use:     "list [--project P]",
		Short:   "List a project's robots, or the system robots",
		Example: `  berth robot list --project platform`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			robots, err := c.ListRobots(cmd.Context(), project)
			if err != nil {
				return err
			}
			return printRobots(cmd.OutOrStdout(), r.output, robots)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&project, "project", "", "the project (default: system robots)")
	return cmd
}

func newRobotCreateCommand() *cobra.Command {
	var r *remote
	var sf secretFlags
	var project, name, description, expires string
	var perms []string
	cmd := &cobra.Command{
		Use:   "create --name N [--project P] --permission 'repo=P/*;actions=pull,push' [--expires 90d]",
		Short: "Create a robot account and print its secret once",
		Long: `Create a robot and print its secret, which is shown only now. Each --permission is
repo=<project>/<pattern>;actions=<list>: pattern matches repositories of the project
as path.Match does (* for all of them); actions are pull, push, delete, list and
read-scan. Without repo=, the permission covers every repository of --project.
--expires takes a duration (90d, 12h, 2w), an RFC 3339 time or never.

-o kube-secret prints a kubernetes.io/dockerconfigjson Secret for imagePullSecrets
(kubectl apply -f -); -o docker-config a config.json snippet.`,
		Example: `  berth robot create --project platform --name ci --permission 'repo=platform/*;actions=pull,push' --expires 90d
  berth robot create --project platform --name puller --permission 'actions=pull' -o kube-secret --namespace prod | kubectl apply -f -
  berth robot create --name mirror --permission 'repo=*;actions=pull'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := wire.NewRobot{Name: name, Description: description, Permissions: []wire.Permission{}}
			for _, s := range perms {
				p, err := parsePermission(s, project)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				in.Permissions = append(in.Permissions, p)
			}
			exp, err := parseExpiry(expires, now(cmd.Context()))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			in.ExpiresAt = wire.Time(exp)
			c, err := r.client()
			if err != nil {
				return err
			}
			created, err := c.CreateRobot(cmd.Context(), project, in)
			if err != nil {
				return err
			}
			return writeRobotSecret(cmd.OutOrStdout(), cmd.ErrOrStderr(), r.output, created.Robot, created.Secret, sf.pullSecret(c))
		},
	}
	r = addRemoteFlags(cmd, secretFormats...)
	sf.bind(cmd)
	cmd.Flags().StringVar(&project, "project", "", "the robot's project (default: a system robot)")
	cmd.Flags().StringVar(&name, "name", "", "the robot's short name")
	cmd.Flags().StringVar(&description, "description", "", "what the robot is for")
	cmd.Flags().StringArrayVar(&perms, "permission", nil, "a permission, repo=<project>/<pattern>;actions=<a,b> (repeatable)")
	cmd.Flags().StringVar(&expires, "expires", "never", "expiry: a duration such as 90d, an RFC 3339 time, or never")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("permission")
	return cmd
}

func newRobotGetCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "get ROBOT",
		Short:   "Show a robot",
		Example: `  berth robot get 'robot$platform+ci' -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			robot, err := c.GetRobot(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), robot)
			}
			return printRobots(cmd.OutOrStdout(), r.output, []wire.Robot{*robot})
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newRobotUpdateCommand() *cobra.Command {
	var r *remote
	var description, expires string
	var perms []string
	var disabled bool
	cmd := &cobra.Command{
		Use:   "update ROBOT",
		Short: "Change a robot's description, permissions, expiry or disabled flag",
		Long: `Change what the flags name and leave the rest. --permission (repeatable) replaces
all permissions; --disabled revokes the robot until --disabled=false.`,
		Example: `  berth robot update 'robot$platform+ci' --disabled
  berth robot update 'robot$platform+ci' --permission 'repo=platform/app-*;actions=pull' --expires 30d`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch, err := robotChange(cmd, args[0], description, expires, perms, disabled)
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			robot, err := c.UpdateRobot(cmd.Context(), args[0], ch)
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), robot)
			}
			return printRobots(cmd.OutOrStdout(), r.output, []wire.Robot{*robot})
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&description, "description", "", "new description")
	cmd.Flags().StringArrayVar(&perms, "permission", nil, "replace the permissions (repeatable), as for create")
	cmd.Flags().StringVar(&expires, "expires", "", "new expiry: a duration such as 90d, an RFC 3339 time, or never")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "disable (or with =false, enable) the robot")
	return cmd
}

// robotChange builds the change the update flags ask for.
func robotChange(cmd *cobra.Command, name, description, expires string, perms []string, disabled bool) (wire.RobotChange, error) {
	var ch wire.RobotChange
	flags := cmd.Flags()
	if flags.Changed("description") {
		ch.Description = &description
	}
	if flags.Changed("disabled") {
		ch.Disabled = &disabled
	}
	if flags.Changed("expires") {
		t, err := parseExpiry(expires, now(cmd.Context()))
		if err != nil {
			return ch, &exitError{code: 2, err: err}
		}
		s := wire.Time(t)
		ch.ExpiresAt = &s
	}
	if flags.Changed("permission") {
		project := robotProjectOf(name)
		ps := []wire.Permission{}
		for _, s := range perms {
			p, err := parsePermission(s, project)
			if err != nil {
				return ch, &exitError{code: 2, err: err}
			}
			ps = append(ps, p)
		}
		ch.Permissions = &ps
	}
	if ch == (wire.RobotChange{}) {
		return ch, &exitError{code: 2, err: errors.New("nothing to change: give --description, --permission, --expires or --disabled")}
	}
	return ch, nil
}

// robotProjectOf returns the project of robot$<project>+<name>, or "".
func robotProjectOf(name string) string {
	rest, _ := strings.CutPrefix(name, "robot$")
	project, _, ok := strings.Cut(rest, "+")
	if !ok {
		return ""
	}
	return project
}

func newRobotDeleteCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "delete ROBOT",
		Short:   "Delete a robot; its secret stops working at once",
		Example: `  berth robot delete 'robot$platform+ci'`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteRobot(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Deleted robot %s\n", args[0])
			return err
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newRobotSecretCommand() *cobra.Command {
	var r *remote
	var sf secretFlags
	cmd := &cobra.Command{
		Use:   "secret ROBOT",
		Short: "Generate a new secret for a robot, replacing the old one",
		Long: `Generate a new secret for a robot; the old one stops working. The secret is shown
once, in the -o format (kube-secret and docker-config as for create).`,
		Example: `  berth robot secret 'robot$platform+puller' -o kube-secret --namespace prod`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			s, err := c.RegenerateRobotSecret(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ps := sf.pullSecret(c)
			ps.Username, ps.Secret = s.Name, s.Secret
			if ps.Name == "" {
				ps.Name = defaultSecretName(s.Name)
			}
			switch r.output {
			case "json":
				return printJSON(cmd.OutOrStdout(), s)
			case "kube-secret":
				return writeKubeSecret(cmd.OutOrStdout(), ps)
			case "docker-config":
				return writeDockerConfig(cmd.OutOrStdout(), ps)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "Save the secret now: it is not shown again.")
			return printTable(cmd.OutOrStdout(), []string{"NAME", "SECRET"}, [][]string{{s.Name, s.Secret}})
		},
	}
	r = addRemoteFlags(cmd, secretFormats...)
	sf.bind(cmd)
	return cmd
}
