package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/spf13/cobra"
)

// retentionPoll is how often `berth retention run --wait` asks for progress.
const retentionPoll = 500 * time.Millisecond

func newRetentionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retention",
		Short: "Manage retention policies, runs and the trash of deleted tags",
		Long: `Manage a project's retention policy: rules (a superset of ECR's lifecycle
policies and Harbor's retention rules, see docs/retention.md) that decide which
tags and untagged manifests go. A run moves what goes to the trash; a dry run
only reports what a run would delete and why. Deleted tags stay restorable for
retention.restore_window (default 7 days); then their manifests are deleted if
nothing else keeps them, and garbage collection frees the blobs.`,
		Example: `  berth retention set platform -f policy.json --schedule daily@03:00
  berth retention run platform --dry-run --wait
  berth retention report platform 12
  berth retention restore platform platform/api:v1.2.0`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRetentionGetCommand(), newRetentionSetCommand(), newRetentionDeleteCommand(),
		newRetentionRunCommand(), newRetentionRunsCommand(), newRetentionReportCommand(),
		newRetentionTrashCommand(), newRetentionRestoreCommand())
	return cmd
}

func newRetentionGetCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "get PROJECT",
		Short:   "Show a project's retention policy",
		Example: `  berth retention get platform`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			p, err := c.GetRetentionPolicy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printRetentionPolicy(cmd.OutOrStdout(), r.output, p)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func printRetentionPolicy(w io.Writer, format string, p *wire.RetentionPolicy) error {
	if format == "json" {
		return printJSON(w, p)
	}
	schedule := p.Schedule
	if schedule == "" {
		schedule = "manual"
	}
	if err := printTable(w, []string{"SCHEDULE", "ENABLED", "NEXT RUN", "UPDATED", "BY"},
		[][]string{{schedule, strconv.FormatBool(p.Enabled), orDash(p.NextRunAt), p.UpdatedAt, p.UpdatedBy}}); err != nil {
		return err
	}
	var doc any
	if err := json.Unmarshal(p.Policy, &doc); err != nil {
		return fmt.Errorf("decode the policy: %w", err)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\n%s\n", b)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newRetentionSetCommand() *cobra.Command {
	var (
		r        *remote
		file     string
		schedule string
		disabled bool
	)
	cmd := &cobra.Command{
		Use:   "set PROJECT -f FILE [--schedule 24h|daily@HH:MM] [--disabled]",
		Short: "Set a project's retention policy from a JSON file ('-' reads stdin)",
		Example: `  berth retention set platform -f policy.json --schedule 24h
  berth retention set platform -f - < policy.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := readPolicyFile(cmd.InOrStdin(), file)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			p, err := c.SetRetentionPolicy(cmd.Context(), args[0], wire.RetentionPolicy{Policy: doc,
				Schedule: schedule, Enabled: !disabled})
			if err != nil {
				return err
			}
			return printRetentionPolicy(cmd.OutOrStdout(), r.output, p)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "the policy document (JSON; '-' for stdin)")
	cmd.Flags().StringVar(&schedule, "schedule", "", "run by itself every DURATION (24h) or daily@HH:MM UTC (default: manual runs only)")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "keep the policy but run it only by hand")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// readPolicyFile reads the policy document at path ("-": in).
func readPolicyFile(in io.Reader, path string) (json.RawMessage, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(in, 1<<20))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read the policy: %w", err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s is not JSON", path)
	}
	return b, nil
}

func newRetentionDeleteCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "delete PROJECT",
		Short:   "Remove a project's retention policy",
		Example: `  berth retention delete platform`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteRetentionPolicy(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed the retention policy of %s\n", args[0])
			return err
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newRetentionRunCommand() *cobra.Command {
	var (
		r         *remote
		dry, wait bool
	)
	cmd := &cobra.Command{
		Use:   "run PROJECT [--dry-run] [--wait]",
		Short: "Run a project's retention policy now",
		Long: `Run a project's retention policy now. With --dry-run nothing is deleted:
the report lists exactly what a run would delete, and why. With --wait the
command shows progress on stderr until the run ends, prints its report (a dry
run's) or summary, and exits non-zero if the run failed.`,
		Example: `  berth retention run platform --dry-run --wait
  berth retention run platform`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			run, err := c.StartRetentionRun(cmd.Context(), args[0], dry)
			if err != nil {
				return err
			}
			if !wait {
				return printRetentionRuns(cmd.OutOrStdout(), r.output, []wire.RetentionRun{*run})
			}
			run, err = waitRetentionRun(cmd.Context(), cmd.ErrOrStderr(), func(ctx context.Context) (*wire.RetentionRun, error) {
				return c.GetRetentionRun(ctx, args[0], run.ID)
			})
			if err != nil {
				return err
			}
			if run.DryRun && run.Status == "succeeded" {
				lines, err := c.RetentionReport(cmd.Context(), args[0], run.ID)
				if err != nil {
					return err
				}
				if err := printRetentionReport(cmd.OutOrStdout(), r.output, lines); err != nil {
					return err
				}
			} else if err := printRetentionRuns(cmd.OutOrStdout(), r.output, []wire.RetentionRun{*run}); err != nil {
				return err
			}
			if run.Status != "succeeded" {
				return &exitError{code: 1, err: fmt.Errorf("retention run %d %s: %s", run.ID, run.Status, run.Error)}
			}
			return nil
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().BoolVar(&dry, "dry-run", false, "report what would be deleted and why, delete nothing")
	cmd.Flags().BoolVar(&wait, "wait", false, "show progress until the run ends; exit non-zero if it failed")
	return cmd
}

// waitRetentionRun polls get until the run ends, writing its progress to
// progress.
func waitRetentionRun(ctx context.Context, progress io.Writer, get func(context.Context) (*wire.RetentionRun, error)) (*wire.RetentionRun, error) {
	last := ""
	for {
		run, err := get(ctx)
		if err != nil {
			return nil, err
		}
		p := run.Progress
		line := fmt.Sprintf("run %d %s: repositories %d/%d, tags examined %d, deleted %d, manifests deleted %d",
			run.ID, run.Status, p.RepositoriesDone, p.RepositoriesTotal, p.TagsExamined, p.TagsDeleted, p.ManifestsDeleted)
		if line != last {
			fmt.Fprintln(progress, line)
			last = line
		}
		switch run.Status {
		case "succeeded", "failed", "interrupted":
			return run, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retentionPoll):
		}
	}
}

func printRetentionRuns(w io.Writer, format string, runs []wire.RetentionRun) error {
	if format == "json" {
		return printJSON(w, runs)
	}
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		kind := "run"
		if r.DryRun {
			kind = "dry run"
		}
		p := r.Progress
		rows = append(rows, []string{strconv.FormatInt(r.ID, 10), kind, r.Trigger, r.Status,
			fmt.Sprintf("%d/%d", p.RepositoriesDone, p.RepositoriesTotal), strconv.FormatInt(p.TagsExamined, 10),
			strconv.FormatInt(p.TagsDeleted, 10), strconv.FormatInt(p.ManifestsDeleted, 10), r.CreatedAt})
	}
	return printTable(w, []string{"ID", "KIND", "TRIGGER", "STATUS", "REPOSITORIES", "TAGS EXAMINED",
		"TAGS DELETED", "MANIFESTS DELETED", "CREATED"}, rows)
}

func newRetentionRunsCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "runs PROJECT",
		Short:   "List a project's retention runs, newest first",
		Example: `  berth retention runs platform`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			runs, err := c.ListRetentionRuns(cmd.Context(), args[0], 0)
			if err != nil {
				return err
			}
			return printRetentionRuns(cmd.OutOrStdout(), r.output, runs)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func printRetentionReport(w io.Writer, format string, lines []wire.RetentionDecision) error {
	if format == "json" {
		return printJSON(w, lines)
	}
	rows := make([][]string, 0, len(lines))
	for _, l := range lines {
		what := l.Repository + ":" + l.Tag
		if l.Tag == "" {
			what = l.Repository + "@" + l.Digest
		}
		rows = append(rows, []string{l.Outcome, what, l.Reason})
	}
	return printTable(w, []string{"OUTCOME", "WHAT", "WHY"}, rows)
}

func newRetentionReportCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "report PROJECT RUN",
		Short:   "Show what a run deleted (or a dry run would delete), and why",
		Example: `  berth retention report platform 12 -o json`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || id <= 0 {
				return &exitError{code: 2, err: fmt.Errorf("run %q: want a positive number (see berth retention runs)", args[1])}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			lines, err := c.RetentionReport(cmd.Context(), args[0], id)
			if err != nil {
				return err
			}
			return printRetentionReport(cmd.OutOrStdout(), r.output, lines)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func printTrash(w io.Writer, format string, rows []wire.TrashEntry) error {
	if format == "json" {
		return printJSON(w, rows)
	}
	out := make([][]string, 0, len(rows))
	for _, e := range rows {
		tag := e.Tag
		if tag == "" {
			tag = "(untagged)"
		}
		out = append(out, []string{e.Repository, tag, e.Digest, e.DeletedAt, e.RestorableUntil, e.Reason})
	}
	return printTable(w, []string{"REPOSITORY", "TAG", "DIGEST", "DELETED", "RESTORABLE UNTIL", "WHY"}, out)
}

func newRetentionTrashCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "trash PROJECT",
		Short:   "List what retention deleted that can still be restored",
		Example: `  berth retention trash platform`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			rows, err := c.RetentionTrash(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printTrash(cmd.OutOrStdout(), r.output, rows)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newRetentionRestoreCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:   "restore PROJECT REPO:TAG|REPO@DIGEST",
		Short: "Put back a tag retention deleted (or keep an untagged manifest)",
		Example: `  berth retention restore platform platform/api:v1.2.0
  berth retention restore platform platform/api@sha256:…`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := restoreTarget(args[1])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			e, err := c.RestoreRetentionTrash(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), e)
			}
			if e.Tag == "" {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "Took %s@%s out of the trash\n", e.Repository, e.Digest)
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Restored %s:%s at %s\n", e.Repository, e.Tag, e.Digest)
			return err
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

// restoreTarget parses REPO:TAG or REPO@DIGEST.
func restoreTarget(s string) (wire.RestoreRequest, error) {
	if repo, dgst, ok := strings.Cut(s, "@"); ok {
		return wire.RestoreRequest{Repository: repo, Digest: dgst}, nil
	}
	i := strings.LastIndex(s, ":")
	if i <= 0 || strings.Contains(s[i:], "/") {
		return wire.RestoreRequest{}, fmt.Errorf("%q: want REPOSITORY:TAG or REPOSITORY@DIGEST", s)
	}
	if err := ref.ValidTag(s[i+1:]); err != nil {
		return wire.RestoreRequest{}, fmt.Errorf("%q: %w", s, err)
	}
	return wire.RestoreRequest{Repository: s[:i], Tag: s[i+1:]}, nil
}
