package cli

import (
	"errors"
	"fmt"

	"github.com/berth-registry/berth/internal/client"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/spf13/cobra"
)

func newLoginCommand() *cobra.Command {
	var username string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [SERVER]",
		Short: "Log in to a Berth server and store the credentials",
		Long: `Log in to a Berth server: check the user name and password (or CLI secret, or robot
secret) against the server, then store them for the other commands in
$BERTH_CONFIG_DIR/credentials.json (default ~/.config/berth/credentials.json),
readable by you only. SERVER is host[:port] (https; http for localhost) or a URL;
without it, the server of the last login.

The password is read from standard input with --password-stdin, or prompted for
without echo; it is never a flag, so it never shows in the process list.`,
		Example: `  berth login registry.example.com -u alice
  echo "$BERTH_SECRET" | berth login http://127.0.0.1:5000 -u 'robot$ci' --password-stdin`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			creds, err := loadCredentials()
			if err != nil {
				return err
			}
			server := creds.Current
			if len(args) == 1 {
				server = args[0]
			}
			if server == "" {
				return &exitError{code: 2, err: errors.New("name the server to log in to: berth login SERVER")}
			}
			u, err := client.ServerURL(server)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			server = u.String()
			if passwordStdin && username == "" {
				return &exitError{code: 2, err: errors.New("--password-stdin needs --username")}
			}
			if username == "" {
				if username, err = promptLine(cmd, "Username: "); err != nil {
					return err
				}
			}
			var password string
			if passwordStdin {
				password, err = readSecretStdin(cmd)
			} else {
				password, err = promptSecret(cmd, "Password: ")
			}
			if err != nil {
				return err
			}
			c, err := client.New(server, client.Options{Username: username, Secret: password, UserAgent: "berth/" + Version})
			if err != nil {
				return err
			}
			if _, err := c.Me(cmd.Context()); err != nil {
				if errors.Is(err, errdefs.ErrUnauthenticated) {
					return fmt.Errorf("login to %s failed: wrong user name or password", server)
				}
				return fmt.Errorf("login to %s failed: %w", server, err)
			}
			creds.Servers[server] = login{Username: username, Secret: password}
			creds.Current = server
			if err := creds.save(); err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return err
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "", "user name (a user, or a robot as robot$...)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Remove the stored credentials of a server",
		Long: `Remove the credentials berth login stored for SERVER (default: the server of the
last login).`,
		Example: `  berth logout registry.example.com`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			creds, err := loadCredentials()
			if err != nil {
				return err
			}
			server := creds.Current
			if len(args) == 1 {
				u, err := client.ServerURL(args[0])
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				server = u.String()
			}
			if _, ok := creds.Servers[server]; !ok || server == "" {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Not logged in to %s\n", orNone(server))
				return err
			}
			delete(creds.Servers, server)
			if creds.Current == server {
				creds.Current = ""
			}
			if err := creds.save(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed the credentials of %s\n", server)
			return err
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "any server"
	}
	return s
}
