package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/server"
	"github.com/berth-registry/berth/internal/transfer"
	"github.com/spf13/cobra"
)

func newTransferCommand() *cobra.Command {
	var (
		from, to transferEnds
		workers  int
		output   string
	)
	cmd := &cobra.Command{
		Use:   "transfer",
		Short: "Copy a registry's content to other stores, e.g. from embedded to PostgreSQL and S3",
		Long: `Copy every repository, blob, manifest and tag from one pair of stores to
another without changing any digest: typically from an embedded registry's
data directory onto PostgreSQL and an S3 bucket before switching to the
scale-out mode. Access control comes along: users (with their password and
CLI secret hashes, so their credentials keep working), projects and their
members, robot accounts (with their secrets) and the audit log.

Blobs are streamed into the destination and verified against their digest on
the way in; metadata follows in dependency order. Projects are matched by
name. A user or robot the destination already has under the same name is
overwritten with the source's record: the source wins, including over the
admin account the destination's first start created (its password becomes
the source admin's). Signing keys are not copied; the destination uses its
own, so tokens issued by the source (refresh tokens included) stop working.

Stop the source registry first (or keep clients away from it): the source is
read without a snapshot. The transfer can be run again at any time: what the
destination already holds is skipped (audit events are not appended twice),
so rerunning it finishes an interrupted transfer. Upload sessions in progress
are not copied.

Progress goes to stderr every few seconds; the summary to stdout.`,
		Example: `  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... berth transfer \
      --from-data-dir /var/lib/berth \
      --to-metadata 'postgres://berth@db:5432/berth?sslmode=require' \
      --to-storage 's3://registry?endpoint=https://s3.example.com&region=eu-west-1'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return &exitError{code: 2, err: fmt.Errorf("-o %q: want table or json", output)}
			}
			return runTransfer(cmd, from, to, workers, output)
		},
	}
	from.bind(cmd, "from", "source")
	to.bind(cmd, "to", "destination")
	cmd.Flags().IntVar(&workers, "workers", 4, "blobs copied in parallel")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// transferEnds names the stores at one end of a transfer.
type transferEnds struct {
	dataDir, metadata, storage string
}

func (e *transferEnds) bind(cmd *cobra.Command, prefix, what string) {
	cmd.Flags().StringVar(&e.dataDir, prefix+"-data-dir", "", what+" data directory (embedded SQLite database and blobs)")
	cmd.Flags().StringVar(&e.metadata, prefix+"-metadata", "", what+" metadata URL (overrides the data directory's database)")
	cmd.Flags().StringVar(&e.storage, prefix+"-storage", "", what+" storage URL (overrides the data directory's blobs)")
}

// config builds the settings of one end; migrate says whether its schema
// may be brought up to date (never for the source).
func (e transferEnds) config(which string, migrate bool) (config.Config, error) {
	c := config.Default()
	if e.dataDir == "" && (e.metadata == "" || e.storage == "") {
		return c, &exitError{code: 2, err: fmt.Errorf("the %s needs --%s-data-dir, or both --%s-metadata and --%s-storage", which, which, which, which)}
	}
	if e.dataDir != "" {
		c.DataDir = e.dataDir
	}
	c.Metadata, c.Storage, c.Migrate = e.metadata, e.storage, migrate
	c.Cache.ManifestBytes = 0
	if err := c.Validate(); err != nil {
		return c, &exitError{code: 2, err: fmt.Errorf("%s: %w", which, err)}
	}
	return c, nil
}

func runTransfer(cmd *cobra.Command, from, to transferEnds, workers int, output string) error {
	ctx := cmd.Context()
	srcCfg, err := from.config("from", false)
	if err != nil {
		return err
	}
	dstCfg, err := to.config("to", true)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, err := server.OpenBackend(ctx, srcCfg, log)
	if err != nil {
		return fmt.Errorf("open source: %w", err)
	}
	defer src.Close()
	dumper, ok := src.Raw.(meta.Dumper)
	if !ok {
		return fmt.Errorf("the source metadata store (%s) cannot be read out; transfers start from an embedded (SQLite) registry", src.Describe)
	}
	dst, err := server.OpenBackend(ctx, dstCfg, log)
	if err != nil {
		return fmt.Errorf("open destination: %w", err)
	}
	defer dst.Close()
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "transferring from %s\n                to %s\n", src.Describe, dst.Describe)
	rep, err := transfer.Run(ctx,
		transfer.Source{Meta: dumper, Blobs: src.Blobs, Stats: src.Raw.Stats},
		transfer.Dest{Meta: dst.Raw, Blobs: dst.Blobs},
		transfer.Options{Workers: workers, Progress: func(r transfer.Report) { printProgress(stderr, r) }})
	if err != nil {
		return fmt.Errorf("transfer stopped (run it again to finish): %w", err)
	}
	return printTransfer(cmd.OutOrStdout(), output, rep)
}

func printProgress(w io.Writer, r transfer.Report) {
	fmt.Fprintf(w, "  %-8s blobs %d/%d (%s copied of %s), manifests %d, tags %d, users %d, projects %d, robots %d, audit events %d\n",
		r.Phase, r.Blobs, r.BlobsTotal, bytesize.Format(r.BytesCopied), bytesize.Format(r.BytesTotal), r.Manifests, r.Tags,
		r.Users, r.Projects, r.Robots, r.AuditEvents)
}

func printTransfer(w io.Writer, output string, r transfer.Report) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	_, err := fmt.Fprintf(w, "repositories %d\nblobs        %d (%d copied, %s; %d already there)\nlinks        %d\nleases       %d\nmanifests    %d\ntags         %d\n",
		r.Repositories, r.Blobs, r.BlobsCopied, bytesize.Format(r.BytesCopied), r.Blobs-r.BlobsCopied, r.Links, r.Leases, r.Manifests, r.Tags)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "users        %d\nprojects     %d (%d members)\nrobots       %d\naudit events %d\n",
		r.Users, r.Projects, r.Members, r.Robots, r.AuditEvents)
	return err
}
