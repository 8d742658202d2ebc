package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/berth-registry/berth/internal/client"
	"github.com/spf13/cobra"
)

func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and export the audit log",
		Long: `Read the audit log: pushes, pulls, deletes, logins, token issues and changes of
users, members, robots and settings, with who, from where, when and the outcome.
System administrators see everything; project admins and maintainers their
projects' events.`,
		Example: `  berth audit list --project platform --action artifact.push --since 24h
  berth audit export --since 720h > audit.jsonl`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newAuditListCommand(), newAuditExportCommand())
	return cmd
}

// auditFlags are the filters of both audit commands.
type auditFlags struct {
	q            client.AuditQuery
	since, until string
}

func (f *auditFlags) bind(cmd *cobra.Command, limitDoc string) {
	fl := cmd.Flags()
	fl.StringVar(&f.q.Actor, "actor", "", "only events of this user or robot")
	fl.StringVar(&f.q.Action, "action", "", "only this action, e.g. artifact.push, login, member.put")
	fl.StringVar(&f.q.Project, "project", "", "only events of this project")
	fl.StringVar(&f.q.Outcome, "outcome", "", "only this outcome: success, failure or denied")
	fl.StringVar(&f.q.Resource, "resource", "", "only resources starting with this prefix")
	fl.StringVar(&f.since, "since", "", "only events since this RFC 3339 time or this long ago (24h, 7d)")
	fl.StringVar(&f.until, "until", "", "only events before this RFC 3339 time or this long ago")
	fl.StringVar(&f.q.Before, "before", "", "only events older than this id (the cursor a previous page printed)")
	fl.IntVar(&f.q.Limit, "limit", 0, limitDoc)
}

// query returns the filters with --since and --until resolved.
func (f *auditFlags) query(cmd *cobra.Command) (client.AuditQuery, error) {
	q := f.q
	var err error
	if q.Since, err = pointInTime("--since", f.since, now(cmd.Context())); err != nil {
		return q, err
	}
	if q.Until, err = pointInTime("--until", f.until, now(cmd.Context())); err != nil {
		return q, err
	}
	if q.Limit < 0 {
		return q, &exitError{code: 2, err: fmt.Errorf("--limit %d: want a positive number", q.Limit)}
	}
	return q, nil
}

// pointInTime parses an RFC 3339 time or a duration back from now.
func pointInTime(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDays(s)
	if err != nil || d <= 0 {
		return time.Time{}, &exitError{code: 2, err: fmt.Errorf("%s %q: want an RFC 3339 time or a duration such as 24h or 7d", flag, s)}
	}
	return now.Add(-d).UTC(), nil
}

func newAuditListCommand() *cobra.Command {
	var r *remote
	var f auditFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show a page of the audit log, newest first",
		Long: `Show a page of audit events, newest first. When there are more, the command says
which --before shows the next page.`,
		Example: `  berth audit list --actor alice --since 7d
  berth audit list --outcome denied -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := f.query(cmd)
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			page, err := c.ListAudit(cmd.Context(), q)
			if err != nil {
				return err
			}
			if r.output == "json" {
				return printJSON(cmd.OutOrStdout(), page)
			}
			rows := make([][]string, 0, len(page.Events))
			for _, e := range page.Events {
				rows = append(rows, []string{fmt.Sprint(e.ID), e.At, e.Actor, e.Action, e.Project, e.Resource, e.Outcome, e.Remote, e.Detail})
			}
			if err := printTable(cmd.OutOrStdout(), []string{"ID", "TIME", "ACTOR", "ACTION", "PROJECT", "RESOURCE", "OUTCOME", "REMOTE", "DETAIL"}, rows); err != nil {
				return err
			}
			if page.Next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "More events: add --before %s\n", page.Next)
			}
			return nil
		},
	}
	r = addRemoteFlags(cmd)
	f.bind(cmd, "page size, 1 to 1000 (default 100)")
	return cmd
}

func newAuditExportCommand() *cobra.Command {
	var r *remote
	var f auditFlags
	var file string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export the audit log as JSON lines",
		Long: `Export the events the filters select as JSON lines (one object per line, newest
first), to standard output or --file.`,
		Example: `  berth audit export --since 2026-01-01T00:00:00Z --file audit.jsonl`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := f.query(cmd)
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if file != "" {
				out, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return fmt.Errorf("export the audit log: %w", err)
				}
				defer out.Close()
				w = out
			}
			if err := c.ExportAudit(cmd.Context(), q, w); err != nil {
				return err
			}
			if out, ok := w.(*os.File); ok && file != "" {
				return out.Close()
			}
			return nil
		},
	}
	r = addRemoteFlags(cmd, "jsonl")
	f.bind(cmd, "export at most this many events (default: all)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "write to this file instead of standard output")
	return cmd
}
