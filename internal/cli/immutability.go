package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/spf13/cobra"
)

func newImmutabilityCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "immutability",
		Short: "Manage tag immutability rules",
		Long: `Manage tag immutability rules. A tag of a repository that matches a rule's
repository patterns is immutable when it matches one of its tag patterns and
none of its exclusions ('!' patterns): it can then be neither moved to another
manifest nor deleted. Pushing the same manifest again is allowed.

Patterns are path.Match patterns per path segment; "**" matches any number of
segments. Repository patterns of a project's rules are relative to the project;
without --project the rules are system-wide and match full repository names.`,
		Example: `  berth immutability add --project platform --repo 'api/**' --tag 'v*' --tag '!*-rc*'
  berth immutability list --project platform
  berth immutability remove --project platform 3`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newImmutabilityListCommand(), newImmutabilityAddCommand(), newImmutabilityRemoveCommand())
	return cmd
}

func printImmutabilityRules(w io.Writer, format string, rules []wire.ImmutabilityRule) error {
	if format == "json" {
		return printJSON(w, rules)
	}
	rows := make([][]string, 0, len(rules))
	for _, r := range rules {
		repos := strings.Join(r.Repositories, ",")
		if repos == "" {
			repos = "**"
		}
		rows = append(rows, []string{strconv.FormatInt(r.ID, 10), repos, strings.Join(r.Tags, ","), r.CreatedBy})
	}
	return printTable(w, []string{"ID", "REPOSITORIES", "TAGS", "CREATED BY"}, rows)
}

func newImmutabilityListCommand() *cobra.Command {
	var r *remote
	var project string
	cmd := &cobra.Command{
		Use:     "list [--project PROJECT]",
		Short:   "List a project's immutability rules, or the system-wide ones",
		Example: `  berth immutability list --project platform`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			rules, err := c.ListImmutabilityRules(cmd.Context(), project)
			if err != nil {
				return err
			}
			return printImmutabilityRules(cmd.OutOrStdout(), r.output, rules)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&project, "project", "", "the project (default: the system-wide rules)")
	return cmd
}

func newImmutabilityAddCommand() *cobra.Command {
	var r *remote
	var project string
	var repos, tags []string
	cmd := &cobra.Command{
		Use:   "add [--project PROJECT] [--repo PATTERN]... --tag PATTERN...",
		Short: "Add an immutability rule",
		Example: `  berth immutability add --project platform --repo 'api/*' --tag 'v*' --tag '!*-rc*'
  berth immutability add --repo '**' --tag 'release-*'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			got, err := c.AddImmutabilityRule(cmd.Context(), project, wire.NewImmutabilityRule{Repositories: repos, Tags: tags})
			if err != nil {
				return err
			}
			return printImmutabilityRules(cmd.OutOrStdout(), r.output, []wire.ImmutabilityRule{*got})
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&project, "project", "", "the project (default: a system-wide rule)")
	cmd.Flags().StringArrayVar(&repos, "repo", nil, "repository pattern (repeatable; default: every repository)")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "tag pattern, '!' to exclude (repeatable)")
	_ = cmd.MarkFlagRequired("tag")
	return cmd
}

func newImmutabilityRemoveCommand() *cobra.Command {
	var r *remote
	var project string
	cmd := &cobra.Command{
		Use:     "remove [--project PROJECT] ID",
		Short:   "Remove an immutability rule",
		Example: `  berth immutability remove --project platform 3`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return &exitError{code: 2, err: fmt.Errorf("rule ID %q: want a positive number (see berth immutability list)", args[0])}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.RemoveImmutabilityRule(cmd.Context(), project, id); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Removed immutability rule %d\n", id)
			return err
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().StringVar(&project, "project", "", "the project (default: a system-wide rule)")
	return cmd
}
