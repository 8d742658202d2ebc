package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-registry/berth/internal/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// AddAccessCommands adds the commands that talk to a server's admin API:
// login, logout, project, user, robot and audit.
func AddAccessCommands(root *cobra.Command) {
	root.AddCommand(newLoginCommand(), newLogoutCommand(), newProjectCommand(), newUserCommand(),
		newRobotCommand(), newAuditCommand(), newImmutabilityCommand())
}

// remote holds the flags every admin API command shares.
type remote struct {
	server string
	output string
	// formats are the -o values the command takes; the first is the
	// default.
	formats []string
}

// addRemoteFlags binds --server and -o to cmd.
func addRemoteFlags(cmd *cobra.Command, formats ...string) *remote {
	if len(formats) == 0 {
		formats = []string{"table", "json"}
	}
	r := &remote{formats: formats}
	cmd.Flags().StringVar(&r.server, "server", "", "server to talk to (default: the one of the last berth login)")
	cmd.Flags().StringVarP(&r.output, "output", "o", formats[0], "output format: "+strings.Join(formats, ", "))
	return r
}

// format returns the -o value, or a usage error if the command does not
// take it.
func (r *remote) format() (string, error) {
	if !slices.Contains(r.formats, r.output) {
		return "", &exitError{code: 2, err: fmt.Errorf("-o %q: want %s", r.output, strings.Join(r.formats, ", "))}
	}
	return r.output, nil
}

// client returns a client of the server with the stored login, after
// checking the output format.
func (r *remote) client() (*client.Client, error) {
	if _, err := r.format(); err != nil {
		return nil, err
	}
	creds, err := loadCredentials()
	if err != nil {
		return nil, err
	}
	server := creds.Current
	if r.server != "" {
		u, err := client.ServerURL(r.server)
		if err != nil {
			return nil, &exitError{code: 2, err: err}
		}
		server = u.String()
	}
	if server == "" {
		return nil, fmt.Errorf("not logged in: run 'berth login SERVER' first")
	}
	l, ok := creds.Servers[server]
	if !ok {
		return nil, fmt.Errorf("not logged in to %s: run 'berth login %s' first", server, server)
	}
	return client.New(server, client.Options{Username: l.Username, Secret: l.Secret, UserAgent: "berth/" + Version})
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable writes a header and rows as aligned columns.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		for i, cell := range row {
			if cell == "" {
				row[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// yesNo shows a flag in a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Test hooks carried in the context, so tests can drive Main with a fixed
// clock and their own standard input.
type (
	clockKey struct{}
	stdinKey struct{}
)

// WithClock returns ctx making the commands read the time from now (for
// relative expiries and filters); tests use it for stable output.
func WithClock(ctx context.Context, now func() time.Time) context.Context {
	return context.WithValue(ctx, clockKey{}, now)
}

// WithStdin returns ctx making the commands read standard input from r.
func WithStdin(ctx context.Context, r io.Reader) context.Context {
	return context.WithValue(ctx, stdinKey{}, r)
}

func now(ctx context.Context) time.Time {
	if f, ok := ctx.Value(clockKey{}).(func() time.Time); ok {
		return f()
	}
	return time.Now()
}

func stdin(cmd *cobra.Command) io.Reader {
	if r, ok := cmd.Context().Value(stdinKey{}).(io.Reader); ok {
		return r
	}
	return cmd.InOrStdin()
}

// readSecretStdin reads a password or secret from standard input: all of
// it, without the final line break.
func readSecretStdin(cmd *cobra.Command) (string, error) {
	b, err := io.ReadAll(io.LimitReader(stdin(cmd), 4096))
	if err != nil {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", &exitError{code: 2, err: fmt.Errorf("standard input holds no password")}
	}
	return s, nil
}

// terminal returns standard input's file descriptor if it is a terminal.
func terminal(cmd *cobra.Command) (int, bool) {
	f, ok := stdin(cmd).(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// promptSecret asks for a password on the terminal without echoing it.
func promptSecret(cmd *cobra.Command, prompt string) (string, error) {
	fd, ok := terminal(cmd)
	if !ok {
		return "", &exitError{code: 2, err: fmt.Errorf("cannot prompt for a password: standard input is not a terminal; pipe it in with --password-stdin")}
	}
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if len(b) == 0 {
		return "", &exitError{code: 2, err: fmt.Errorf("no password given")}
	}
	return string(b), nil
}

// promptLine asks for one line (a user name) on the terminal.
func promptLine(cmd *cobra.Command, prompt string) (string, error) {
	if _, ok := terminal(cmd); !ok {
		return "", &exitError{code: 2, err: fmt.Errorf("cannot prompt: standard input is not a terminal; give --username")}
	}
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	var line []byte
	var b [1]byte
	in := stdin(cmd)
	for {
		n, err := in.Read(b[:])
		if n == 1 && b[0] != '\n' {
			line = append(line, b[0])
		}
		if err != nil || (n == 1 && b[0] == '\n') {
			break
		}
	}
	s := strings.TrimSpace(string(line))
	if s == "" {
		return "", &exitError{code: 2, err: fmt.Errorf("no user name given")}
	}
	return s, nil
}

// newPassword reads a new password: from standard input with fromStdin,
// else prompted twice on the terminal.
func newPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if fromStdin {
		return readSecretStdin(cmd)
	}
	pw, err := promptSecret(cmd, "New password: ")
	if err != nil {
		return "", err
	}
	again, err := promptSecret(cmd, "Repeat the password: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", fmt.Errorf("the passwords differ")
	}
	return pw, nil
}
