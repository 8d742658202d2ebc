package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta/postgres"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/spf13/cobra"
)

func newMigrateCommand() *cobra.Command {
	var (
		flags  *configFlags
		status bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the metadata database's schema up to date",
		Long: `Bring the metadata database (SQLite or PostgreSQL) to the schema this berth
needs, including the job queue's tables. Run it as its own deployment step
before starting replicas with migrate: false; with the default settings,
berth serve migrates at start by itself. Several replicas migrating at once
take turns. A database written by a newer berth is refused.

With --status, only report the current and the needed schema version (exit
code 1 when the database needs migrating).`,
		Example: `  berth migrate --metadata postgres://berth@db:5432/berth
  berth migrate --status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &exitError{code: 2, err: fmt.Errorf("-o %q: want table or json", output)}
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			before, latest, err := schemaVersion(ctx, cfg)
			if err != nil {
				return err
			}
			if before > latest {
				where, _ := cfg.Locations()
				return fmt.Errorf("%s: schema version %d is newer than this berth knows (%d); run a newer berth or restore a backup taken before the upgrade", where, before, latest)
			}
			after := before
			if !status && before < latest {
				if err := migrate(ctx, cfg, newLogger(cfg.Log, cmd.ErrOrStderr())); err != nil {
					return err
				}
				after = latest
			}
			if err := printMigration(cmd.OutOrStdout(), output, cfg, before, after, latest); err != nil {
				return err
			}
			if status && after < latest {
				return &exitError{code: 1, err: fmt.Errorf("the database needs migrating from version %d to %d", after, latest)}
			}
			return nil
		},
	}
	flags = addConfigFlags(cmd, flagDataDir, flagMetadata, flagLogLevel, flagLogFmt)
	cmd.Flags().BoolVar(&status, "status", false, "only report the schema versions")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func schemaVersion(ctx context.Context, cfg config.Config) (current, latest int64, err error) {
	kind, err := cfg.MetadataBackend()
	if err != nil {
		return 0, 0, err
	}
	if kind == config.BackendPostgres {
		return postgres.SchemaVersion(ctx, cfg.Metadata, postgres.Options{})
	}
	path, err := cfg.MetadataPath()
	if err != nil {
		return 0, 0, err
	}
	return sqlite.SchemaVersion(ctx, path)
}

// migrate runs the metadata migrations, then the job queue's (creating a
// queue migrates its tables; it is never started).
func migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	kind, err := cfg.MetadataBackend()
	if err != nil {
		return err
	}
	if kind == config.BackendPostgres {
		opts := postgres.Options{Logger: log}
		if err := postgres.Migrate(ctx, cfg.Metadata, opts); err != nil {
			return err
		}
		pool, err := postgres.OpenJobsPool(ctx, cfg.Metadata, opts)
		if err != nil {
			return err
		}
		defer pool.Close()
		_, err = jobs.NewPostgres(ctx, pool, nil, jobs.Options{Logger: log})
		return err
	}
	path, err := cfg.MetadataPath()
	if err != nil {
		return err
	}
	if err := sqlite.Migrate(ctx, path, sqlite.Options{Logger: log}); err != nil {
		return err
	}
	db, err := sqlite.OpenJobsDB(path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = jobs.NewSQLite(ctx, db, nil, jobs.Options{Logger: log})
	return err
}

func printMigration(w io.Writer, output string, cfg config.Config, before, after, latest int64) error {
	where, _ := cfg.Locations()
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"database": where, "version_before": before, "version": after, "latest": latest})
	}
	switch {
	case before == after && after == latest:
		_, err := fmt.Fprintf(w, "%s: schema version %d, up to date\n", where, after)
		return err
	case before == after:
		_, err := fmt.Fprintf(w, "%s: schema version %d, needs %d (run berth migrate)\n", where, after, latest)
		return err
	}
	_, err := fmt.Fprintf(w, "%s: migrated schema from version %d to %d\n", where, before, after)
	return err
}
