package cli

import (
	"fmt"
	"io"
	"strconv"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/spf13/cobra"
)

func newQuotaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Show and manage project storage quotas",
		Long: `Show and manage project storage quotas. A project's stored bytes count every
blob and manifest of its repositories once; a push that would bring them over
the limit is refused with DENIED. Logical bytes are what its artifacts add up
to. Setting or removing a quota needs a system administrator; any member who
may pull can see it. Sizes take binary (KiB, MiB, GiB, TiB) or decimal (KB,
MB, GB, TB) units; 0 means no limit.`,
		Example: `  berth quota set platform --limit 100GiB --warn 80GiB --artifacts 5000
  berth quota get platform
  berth quota delete platform`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newQuotaGetCommand(), newQuotaSetCommand(), newQuotaDeleteCommand())
	return cmd
}

func printQuota(w io.Writer, format string, q *wire.Quota) error {
	if format == "json" {
		return printJSON(w, q)
	}
	limit := func(n int64, f func(int64) string) string {
		if n <= 0 {
			return "none"
		}
		return f(n)
	}
	warning := ""
	if q.Usage.Warning {
		warning = "yes"
	}
	return printTable(w, []string{"PROJECT", "STORED", "LOGICAL", "ARTIFACTS", "LIMIT", "USED", "WARN AT", "ARTIFACT LIMIT", "WARNING"},
		[][]string{{q.Project, bytesize.Format(q.Usage.StoredBytes), bytesize.Format(q.Usage.LogicalBytes),
			strconv.FormatInt(q.Usage.Artifacts, 10), limit(q.LimitBytes, bytesize.Format),
			fmt.Sprintf("%.1f%%", q.Usage.Percent), limit(q.WarnBytes, bytesize.Format),
			limit(q.ArtifactLimit, func(n int64) string { return strconv.FormatInt(n, 10) }), warning}})
}

func newQuotaGetCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "get PROJECT",
		Short:   "Show a project's quota and usage",
		Example: `  berth quota get platform -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			q, err := c.GetQuota(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printQuota(cmd.OutOrStdout(), r.output, q)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newQuotaSetCommand() *cobra.Command {
	var r *remote
	var limit, warn string
	var artifacts int64
	cmd := &cobra.Command{
		Use:     "set PROJECT [--limit SIZE] [--warn SIZE] [--artifacts N]",
		Short:   "Set a project's quota (system administrators)",
		Example: `  berth quota set platform --limit 10GiB --warn 8GiB`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var s wire.QuotaSettings
			var err error
			if s.LimitBytes, err = bytesize.Parse(limit); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--limit: %w", err)}
			}
			if s.WarnBytes, err = bytesize.Parse(warn); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--warn: %w", err)}
			}
			if artifacts < 0 {
				return &exitError{code: 2, err: fmt.Errorf("--artifacts: want 0 (no limit) or more")}
			}
			s.ArtifactLimit = artifacts
			c, err := r.client()
			if err != nil {
				return err
			}
			q, err := c.SetQuota(cmd.Context(), args[0], s)
			if err != nil {
				return err
			}
			return printQuota(cmd.OutOrStdout(), r.output, q)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&limit, "limit", "0", "hard limit on stored bytes, e.g. 10GiB (0: none)")
	cmd.Flags().StringVar(&warn, "warn", "0", "warning threshold on stored bytes, e.g. 8GiB (0: none)")
	cmd.Flags().Int64Var(&artifacts, "artifacts", 0, "hard limit on artifacts (0: none)")
	return cmd
}

func newQuotaDeleteCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "delete PROJECT",
		Short:   "Remove a project's quota (system administrators)",
		Example: `  berth quota delete platform`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteQuota(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed the quota of project %s\n", args[0])
			return err
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}
