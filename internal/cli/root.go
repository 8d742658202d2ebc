// Package cli holds Berth's cobra commands, one file per command. Commands
// parse flags, call into the server or a client, and print results; they
// hold no registry logic.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/berth-registry/berth/internal/config"
	"github.com/spf13/cobra"
)

// Version is the build's version, set with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Main runs the berth command line with args and returns the process exit
// code: 0 on success, 1 on failure, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "berth:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isUsageError(err) {
		fmt.Fprintln(stderr, "Run 'berth --help' for usage.")
		return 2
	}
	return 1
}

// NewRootCommand returns the berth command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "berth",
		Short: "Berth is a self-hosted OCI container registry",
		Long: `Berth is a self-hosted OCI container registry: one binary that stores images and
other OCI artifacts by digest and serves the OCI Distribution API v1.1.

Start it with "berth serve"; everything is kept in one data directory by default.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w\nRun '%s --help' for usage", err, c.CommandPath())}
	})
	root.AddCommand(newServeCommand(), newMigrateCommand(), newTransferCommand(), newGCCommand(), newVersionCommand())
	root.AddCommand(newVulnDBCommand())
	root.AddCommand(newPromoteCommand(), newPromotionsCommand())
	root.AddCommand(newQuotaCommand())
	root.AddCommand(newRetentionCommand())
	root.AddCommand(newScanCommand(), newVulnsCommand(), newSBOMCommand(), newScanPolicyCommand(), newAllowlistCommand())
	AddAccessCommands(root)
	return root
}

func isUsageError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "accepts ") ||
		strings.HasPrefix(msg, "unknown flag") || strings.HasPrefix(msg, "required flag")
}

// newLogger builds the process logger from the config.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// configFile returns the --config flag, else $BERTH_CONFIG.
func configFile(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("BERTH_CONFIG")
}
