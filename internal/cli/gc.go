package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/server"
	"github.com/spf13/cobra"
)

func newGCCommand() *cobra.Command {
	var (
		flags   *configFlags
		dryRun  bool
		output  string
		workers int
		batch   int
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete blobs that no manifest references",
		Long: `Run garbage collection once, in this process, on the stores the configuration
names (as berth serve would). Blobs that no manifest of any repository
references and that no upload or recent HEAD holds are deleted, metadata
first, then bytes. It is safe while the registry serves and while another
replica collects: there is no read-only mode and no lock. Manifests are not
deleted (delete or untag them first).

With --dry-run, only report what would be reclaimed: the number of blobs,
their bytes and the first digests.`,
		Example: `  berth gc --dry-run
  berth gc --metadata postgres://berth@db:5432/berth --storage s3://blobs?endpoint=... -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &exitError{code: 2, err: fmt.Errorf("-o %q: want table or json", output)}
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			cfg.Cache.ManifestBytes = 0
			ctx := cmd.Context()
			log := newLogger(cfg.Log, cmd.ErrOrStderr())
			b, err := server.OpenBackend(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer b.Close()
			c, err := gc.New(b.Raw, b.Blobs, gc.Config{Logger: log.With("component", "gc")})
			if err != nil {
				return err
			}
			rep, err := c.Run(ctx, gc.Options{DryRun: dryRun, Workers: workers, BatchSize: batch,
				Progress: gcProgress(cmd.ErrOrStderr(), output, log)})
			if err != nil {
				return fmt.Errorf("garbage collection stopped (run it again to finish): %w", err)
			}
			return printGC(cmd.OutOrStdout(), output, rep)
		},
	}
	flags = addConfigFlags(cmd, flagDataDir, flagMetadata, flagStorage, flagLogLevel)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only report what would be reclaimed")
	cmd.Flags().IntVar(&workers, "workers", gc.DefaultWorkers, "parallel byte deletions")
	cmd.Flags().IntVar(&batch, "batch", gc.DefaultBatchSize, "blobs deleted per metadata transaction")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// gcProgress prints running totals to w in table mode.
func gcProgress(w io.Writer, output string, _ *slog.Logger) func(gc.Progress) {
	if output != "table" {
		return nil
	}
	return func(p gc.Progress) {
		fmt.Fprintf(w, "  examined %d, reclaimed %d blobs (%s)\n", p.Examined, p.Deleted, bytesize.Format(p.Bytes))
	}
}

func printGC(w io.Writer, output string, r gc.Report) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	verb := "reclaimed"
	if r.DryRun {
		verb = "would reclaim"
	}
	fmt.Fprintf(w, "%s %d blobs, %s\n", verb, r.Deleted, bytesize.Format(r.Bytes))
	if r.Resumed > 0 {
		what := "finished"
		if r.DryRun {
			what = "pending"
		}
		fmt.Fprintf(w, "%s from an interrupted run: %d blobs\n", what, r.Resumed)
	}
	if r.Kept > 0 {
		fmt.Fprintf(w, "kept (in use again during the run): %d\n", r.Kept)
	}
	for _, d := range r.Digests {
		fmt.Fprintf(w, "  %s\n", d)
	}
	if int64(len(r.Digests)) < r.Deleted {
		fmt.Fprintf(w, "  ... and %d more\n", r.Deleted-int64(len(r.Digests)))
	}
	return nil
}
