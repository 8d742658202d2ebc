package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/spf13/cobra"
)

func newProjectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "project",
		Short: "Manage projects (namespaces of repositories) and their members",
		Long: `Manage projects: the first path component of a repository name ("platform" in
platform/api/backend). A project is private (only members see it) or public
(anyone may pull). Talks to the server of the last berth login.`,
		Example: `  berth project create platform
  berth project member add platform --user alice --role developer`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newProjectListCommand(), newProjectCreateCommand(), newProjectGetCommand(),
		newProjectUpdateCommand(), newProjectDeleteCommand(), newMemberCommand())
	return cmd
}

func printProjects(w io.Writer, format string, projects []wire.Project) error {
	if format == "json" {
		return printJSON(w, projects)
	}
	rows := make([][]string, 0, len(projects))
	for _, p := range projects {
		rows = append(rows, []string{p.Name, visibility(p.Public), p.CreatedAt, p.CreatedBy})
	}
	return printTable(w, []string{"NAME", "VISIBILITY", "CREATED", "CREATED BY"}, rows)
}

func printProject(w io.Writer, format string, p *wire.Project) error {
	if format == "json" {
		return printJSON(w, p)
	}
	return printProjects(w, format, []wire.Project{*p})
}

func visibility(public bool) string {
	if public {
		return "public"
	}
	return "private"
}

func newProjectListCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the projects you can see",
		Example: `  berth project list -o json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			var all []wire.Project
			for after := ""; ; {
				page, err := c.ListProjects(cmd.Context(), after, 0)
				if err != nil {
					return err
				}
				all = append(all, page.Projects...)
				if after = page.Next; after == "" {
					break
				}
			}
			return printProjects(cmd.OutOrStdout(), r.output, all)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newProjectCreateCommand() *cobra.Command {
	var r *remote
	var public bool
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a project",
		Long:    "Create a project; it is private unless --public. You become able to manage it as the creator's rights allow.",
		Example: `  berth project create platform --public`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			p, err := c.CreateProject(cmd.Context(), wire.NewProject{Name: args[0], Public: public})
			if err != nil {
				return err
			}
			return printProject(cmd.OutOrStdout(), r.output, p)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().BoolVar(&public, "public", false, "let anyone, anonymous callers included, pull from the project")
	return cmd
}

func newProjectGetCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "get NAME",
		Short:   "Show a project",
		Example: `  berth project get platform -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			p, err := c.GetProject(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printProject(cmd.OutOrStdout(), r.output, p)
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}

func newProjectUpdateCommand() *cobra.Command {
	var r *remote
	var public bool
	cmd := &cobra.Command{
		Use:     "update NAME --public=true|false",
		Short:   "Make a project public or private",
		Example: `  berth project update platform --public=false`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("public") {
				return &exitError{code: 2, err: errors.New("nothing to change: give --public=true or --public=false")}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			p, err := c.UpdateProject(cmd.Context(), args[0], wire.ProjectChange{Public: &public})
			if err != nil {
				return err
			}
			return printProject(cmd.OutOrStdout(), r.output, p)
		},
	}
	r = addRemoteFlags(cmd)
	cmd.Flags().BoolVar(&public, "public", false, "whether anyone may pull from the project")
	return cmd
}

func newProjectDeleteCommand() *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete an empty project with its members and robots",
		Long:    "Delete a project, its members and its robots. The server refuses while a repository of the project holds an image: delete those first.",
		Example: `  berth project delete old-team`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := c.DeleteProject(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Deleted project %s\n", args[0])
			return err
		},
	}
	r = addRemoteFlags(cmd)
	return cmd
}
