package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/spf13/cobra"
)

func newUserCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage user accounts",
		Long: `Manage local user accounts (system administrators), and your own password and CLI
secret. Passwords are read from standard input (--password-stdin) or prompted for,
never taken as flag values.`,
		Example: `  berth user create alice --email alice@example.com
  berth user cli-secret alice`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newUserListCommand(), newUserCreateCommand(), newUserGetCommand(),
		newUserUpdateCommand(), newUserDeleteCommand(), newUserCLISecretCommand())
	return cmd
}

func printUsers(w io.Writer, format string, users []wire.User) error {
	if format == "json" {
		return printJSON(w, users)
	}
	rows := make([][]string, 0, len(users))
	for _, u := range users {
		rows = append(rows, []string{u.Name, u.Email, yesNo(u.SysAdmin), yesNo(u.Disabled), u.CreatedAt, u.LastLoginAt})
	}
	return printTable(w, []string{"NAME", "EMAIL", "SYSADMIN", "DISABLED", "CREATED", "LAST LOGIN"}, rows)
}

func printUser(w io.Writer, format string, u *wire.User) error {
	if format == "json" {
		return printJSON(w, u)
	}
	return printUsers(w, format, []wire.User{*u})
}

func newUserListCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List users",
		Example: `  berth user list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			var all []wire.User
			for after := ""; ; {
				page, err := c.ListUsers(cmd.Context(), after, 0)
				if err != nil {
					return err
				}
				all = append(all, page.Users...)
				if after = page.Next; after == "" {
					break
				}
			}
			return printUsers(cmd.OutOrStdout(), r.output, all)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newUserCreateCommand() *cobra.Command {
	var r *remote
	var in wire.NewUser
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a local user",
		Long: `Create a local user. The password (at least 8 characters) is read from standard
input with --password-stdin, otherwise prompted for twice.`,
		Example: `  berth user create alice --email alice@example.com
  printf '%s' "$PW" | berth user create ci-admin --sys-admin --password-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			in.Name = args[0]
			if in.Password, err = newPassword(cmd, passwordStdin); err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), in)
			if err != nil {
				return err
			}
			return printUser(cmd.OutOrStdout(), r.output, u)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&in.Email, "email", "", "email address")
	cmd.Flags().BoolVar(&in.SysAdmin, "sys-admin", false, "make the user a system administrator")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newUserGetCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "get NAME",
		Short:   "Show a user",
		Example: `  berth user get alice -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			u, err := c.GetUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printUser(cmd.OutOrStdout(), r.output, u)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newUserUpdateCommand() *cobra.Command {
	var r *remote
	var email string
	var sysAdmin, disabled, passwordStdin, changePassword bool
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a user's email, password, administrator or disabled flag",
		Long: `Change what the flags name and leave the rest. A new password is read from standard
input with --password-stdin or prompted for with --change-password. You may change
your own password; the rest needs a system administrator.`,
		Example: `  berth user update alice --disabled
  berth user update alice --sys-admin=false
  berth user update alice --change-password`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ch wire.UserChange
			flags := cmd.Flags()
			if flags.Changed("email") {
				ch.Email = &email
			}
			if flags.Changed("sys-admin") {
				ch.SysAdmin = &sysAdmin
			}
			if flags.Changed("disabled") {
				ch.Disabled = &disabled
			}
			if ch == (wire.UserChange{}) && !passwordStdin && !changePassword {
				return &exitError{code: 2, err: errors.New("nothing to change: give --email, --sys-admin, --disabled, --password-stdin or --change-password")}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			if passwordStdin || changePassword {
				pw, err := newPassword(cmd, passwordStdin)
				if err != nil {
					return err
				}
				ch.Password = &pw
			}
			u, err := c.UpdateUser(cmd.Context(), args[0], ch)
			if err != nil {
				return err
			}
			return printUser(cmd.OutOrStdout(), r.output, u)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&email, "email", "", "new email address")
	cmd.Flags().BoolVar(&sysAdmin, "sys-admin", false, "make (or with =false, stop) the user a system administrator")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "disable (or with =false, enable) the account")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read a new password from standard input")
	cmd.Flags().BoolVar(&changePassword, "change-password", false, "prompt for a new password")
	return cmd
}

func newUserDeleteCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a user and their memberships",
		Example: `  berth user delete bob`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteUser(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Deleted user %s\n", args[0])
			return err
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newUserCLISecretCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:   "cli-secret NAME",
		Short: "Generate a new CLI secret for a user",
		Long: `Generate a new CLI secret for a user, replacing the previous one: a password for
docker login and berth login that does not depend on a browser session (OIDC
users). It is shown once.`,
		Example: `  berth user cli-secret alice -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			s, err := c.ResetCLISecret(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), s)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "Save the secret now: it is not shown again.")
			return printTable(cmd.OutOrStdout(), []string{"NAME", "SECRET"}, [][]string{{s.Name, s.Secret}})
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}
