package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/spf13/cobra"
)

func newMemberCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member",
		Short: "Manage the members of a project",
		Long: `Manage who may do what in a project: users and groups (as the identity provider
names them), each with a role: projectAdmin, maintainer, developer, guest or
limitedGuest.`,
		Example: `  berth project member add platform --group platform-devs --role developer
  berth project member list platform`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newMemberListCommand(), newMemberAddCommand(), newMemberRemoveCommand())
	return cmd
}

// memberFlags are --user and --group: exactly one names the member.
type memberFlags struct{ user, group string }

func (m *memberFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&m.user, "user", "", "the member is this user")
	cmd.Flags().StringVar(&m.group, "group", "", "the member is this group")
}

func (m *memberFlags) member() (kind, name string, err error) {
	switch {
	case m.user != "" && m.group == "":
		return "user", m.user, nil
	case m.group != "" && m.user == "":
		return "group", m.group, nil
	}
	return "", "", &exitError{code: 2, err: errors.New("name the member with exactly one of --user or --group")}
}

func printMembers(w io.Writer, format string, members []wire.Member) error {
	if format == "json" {
		return printJSON(w, members)
	}
	rows := make([][]string, 0, len(members))
	for _, m := range members {
		rows = append(rows, []string{m.Kind, m.Name, m.Role, m.CreatedAt})
	}
	return printTable(w, []string{"KIND", "NAME", "ROLE", "SINCE"}, rows)
}

func newMemberListCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "list PROJECT",
		Short:   "List a project's members",
		Example: `  berth project member list platform`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			members, err := c.ListMembers(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printMembers(cmd.OutOrStdout(), r.output, members)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newMemberAddCommand() *cobra.Command {
	var r *remote
	var m memberFlags
	var role string
	cmd := &cobra.Command{
		Use:   "add PROJECT (--user NAME | --group NAME) --role ROLE",
		Short: "Grant a role in a project to a user or group",
		Long:  "Grant a role to a user or group, replacing any role it held in the project.",
		Example: `  berth project member add platform --user alice --role maintainer
  berth project member add platform --group qa --role guest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, err := m.member()
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			got, err := c.PutMember(cmd.Context(), args[0], wire.Member{Kind: kind, Name: name, Role: role})
			if err != nil {
				return err
			}
			return printMembers(cmd.OutOrStdout(), r.output, []wire.Member{*got})
		},
	}
	r = addRemoteFlags(cmd)
	m.bind(cmd)
	cmd.Flags().StringVar(&role, "role", "", "projectAdmin, maintainer, developer, guest or limitedGuest")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func newMemberRemoveCommand() *cobra.Command {
	var r *remote
	var m memberFlags
	cmd := &cobra.Command{
		Use:     "remove PROJECT (--user NAME | --group NAME)",
		Short:   "Remove a member from a project",
		Example: `  berth project member remove platform --user alice`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, err := m.member()
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteMember(cmd.Context(), args[0], kind, name); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed %s %s from %s\n", kind, name, args[0])
			return err
		},
	}
	r = addRemoteFlags(cmd)
	m.bind(cmd)
	return cmd
}
