package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/server"
	"github.com/berth-registry/berth/internal/vuln/osv"
	vulnsync "github.com/berth-registry/berth/internal/vuln/sync"
	"github.com/spf13/cobra"
)

func newVulnDBCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vulndb",
		Short: "Import and inspect the offline vulnerability database",
		Long: `Berth matches image packages against vulnerability records in the OSV format
kept in its own metadata database, so scanning works without internet
access. Load data with "berth vulndb import" (a file) or "berth vulndb sync"
(a URL), and check its age with "berth vulndb status".`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newVulnDBImportCommand(), newVulnDBSyncCommand(), newVulnDBStatusCommand())
	return cmd
}

// openVulnStore opens the metadata store cfg names and returns its
// vulnerability ability, with a function that closes the backend.
func openVulnStore(cmd *cobra.Command, cfg config.Config) (meta.VulnStore, func(), error) {
	cfg.Cache.ManifestBytes = 0
	log := newLogger(cfg.Log, cmd.ErrOrStderr())
	b, err := server.OpenBackend(cmd.Context(), cfg, log)
	if err != nil {
		return nil, nil, err
	}
	vs, ok := meta.VulnOf(b.Raw)
	if !ok {
		_ = b.Close()
		return nil, nil, errdefs.Unsupported("the metadata store cannot hold vulnerability data")
	}
	return vs, func() { _ = b.Close() }, nil
}

func checkOutput(output string) error {
	if output != "table" && output != "json" {
		return &exitError{code: 2, err: fmt.Errorf("-o %q: want table or json", output)}
	}
	return nil
}

func newVulnDBImportCommand() *cobra.Command {
	var (
		flags  *configFlags
		output string
		source string
	)
	cmd := &cobra.Command{
		Use:   "import PATH",
		Short: "Import OSV vulnerability records",
		Long: `Import OSV vulnerability records into the metadata database: PATH is one
JSON file (a record or an array of records), a directory (every .json file
under it), or a zip archive such as osv.dev's per-ecosystem export
(https://osv-vulnerabilities.storage.googleapis.com/<ecosystem>/all.zip),
read one entry at a time. A record replaces a stored one only when its
"modified" time is newer, so importing the same or an older file again
changes nothing. Entries that are not valid records are skipped and listed.

Progress goes to stderr; the summary to stdout.`,
		Example: `  berth vulndb import Debian-all.zip --source Debian
  berth vulndb import ./advisories/ -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			vs, closeStore, err := openVulnStore(cmd, cfg)
			if err != nil {
				return err
			}
			defer closeStore()
			rep, err := osv.Import(cmd.Context(), vs, args[0], osv.Options{Source: source, Progress: importProgress(cmd.ErrOrStderr())})
			if err != nil {
				return fmt.Errorf("import stopped (batches already stored are kept; run it again to finish): %w", err)
			}
			return printImport(cmd.OutOrStdout(), output, rep)
		},
	}
	flags = addConfigFlags(cmd, flagDataDir, flagMetadata, flagStorage, flagLogLevel)
	cmd.Flags().StringVar(&source, "source", "", "name the data source is recorded under (default: the file or directory name)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func newVulnDBSyncCommand() *cobra.Command {
	var (
		flags   *configFlags
		output  string
		rawURL  string
		maxSize string
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Download OSV vulnerability records from a URL and import them",
		Long: `Download OSV vulnerability data from an HTTP(S) URL (--url, else
scan.sync_url) and import it as "berth vulndb import" would: a zip archive
such as osv.dev's per-ecosystem all.zip, or a JSON file holding a record or
an array of records. The download is streamed to a temporary file (under
$TMPDIR) of at most --max-size bytes. Records are attributed to the URL
without its query, fragment or credentials, which is the source name
"berth vulndb status" shows.

This command always downloads: it keeps no ETag or Last-Modified between
runs. It does not read scan.sync_artifact, an artifact in the registry.

Progress goes to stderr; the summary to stdout.`,
		Example: `  berth vulndb sync --url https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip
  BERTH_SCAN_SYNC_URL=https://mirror.example/osv/all.zip berth vulndb sync -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			limit, err := bytesize.Parse(maxSize)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--max-size: %w", err)}
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			if rawURL == "" {
				rawURL = cfg.Scan.SyncURL
			}
			if rawURL == "" {
				return &exitError{code: 2, err: errors.New("no URL: pass --url or set scan.sync_url")}
			}
			vs, closeStore, err := openVulnStore(cmd, cfg)
			if err != nil {
				return err
			}
			defer closeStore()
			s, err := vulnsync.New(vulnsync.Config{
				Store: vs, URL: rawURL, MaxBytes: limit, Logger: newLogger(cfg.Log, cmd.ErrOrStderr()),
			})
			if err != nil {
				return err
			}
			res, err := s.Sync(cmd.Context())
			if err != nil {
				return fmt.Errorf("sync stopped (batches already stored are kept; run it again to finish): %w", err)
			}
			if len(res.URL.Reports) == 0 {
				return errdefs.Unavailable("sync from %s imported nothing", res.URL.Source)
			}
			return printImport(cmd.OutOrStdout(), output, res.URL.Reports[0])
		},
	}
	flags = addConfigFlags(cmd, flagDataDir, flagMetadata, flagStorage, flagLogLevel)
	cmd.Flags().StringVar(&rawURL, "url", "", "HTTP(S) URL of OSV data, a .zip or a JSON file (default: scan.sync_url)")
	cmd.Flags().StringVar(&maxSize, "max-size", "4GiB", "largest download accepted")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// importProgress prints running totals to w, at most every 5,000 records.
func importProgress(w io.Writer) func(osv.Progress) {
	last := 0
	return func(p osv.Progress) {
		if p.Done-last < 5000 {
			return
		}
		last = p.Done
		if p.Total > 0 {
			fmt.Fprintf(w, "  read %d of %d entries, stored %d records\n", p.Done, p.Total, p.Stored)
		} else {
			fmt.Fprintf(w, "  read %d entries, stored %d records\n", p.Done, p.Stored)
		}
	}
}

func printImport(w io.Writer, output string, r *osv.Report) error {
	if output == "json" {
		return writeJSON(w, r)
	}
	fmt.Fprintf(w, "source %s: read %d records: %d added, %d replaced, %d unchanged, %d skipped\n",
		r.Source, r.Read, r.Added, r.Replaced, r.Unchanged, r.SkippedCount)
	fmt.Fprintf(w, "source now holds %d records, newest modified %s; data generation %d\n",
		r.Data.Records, timeOrNone(r.Data.NewestModified), r.Generation)
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  skipped %s: %s\n", s.Entry, s.Reason)
	}
	if n := r.SkippedCount - len(r.Skipped); n > 0 {
		fmt.Fprintf(w, "  ... and %d more skipped\n", n)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func timeOrNone(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// vulnDBStatus is what `berth vulndb status` reports.
type vulnDBStatus struct {
	Generation int64 `json:"generation"`
	// MaxAge is scan.max_db_age.
	MaxAge string `json:"maxAge"`
	// Stale is true when there is no data or any source is stale.
	Stale   bool               `json:"stale"`
	Sources []vulnSourceStatus `json:"sources"`
}

type vulnSourceStatus struct {
	Name           string     `json:"name"`
	Records        int64      `json:"records"`
	NewestModified *time.Time `json:"newestModified,omitempty"`
	ImportedAt     time.Time  `json:"importedAt"`
	// Age is how long ago the newest record was modified.
	Age   string `json:"age"`
	Stale bool   `json:"stale"`
}

func newVulnDBStatusCommand() *cobra.Command {
	var (
		flags  *configFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the vulnerability data's sources and age",
		Long: `List each imported vulnerability data source with its record count, its
newest record's modification time, how old that is, and when it was last
imported. A source whose newest record is older than scan.max_db_age
(default 72h) is marked STALE, as is a database with no data at all: scan
results from stale data miss recent vulnerabilities.`,
		Example: `  berth vulndb status
  berth vulndb status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			vs, closeStore, err := openVulnStore(cmd, cfg)
			if err != nil {
				return err
			}
			defer closeStore()
			st, err := vulnStatus(cmd, vs, cfg.Scan.MaxDBAge, time.Now())
			if err != nil {
				return err
			}
			return printVulnStatus(cmd.OutOrStdout(), output, st)
		},
	}
	flags = addConfigFlags(cmd, flagDataDir, flagMetadata, flagStorage, flagLogLevel)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func vulnStatus(cmd *cobra.Command, vs meta.VulnStore, maxAge time.Duration, now time.Time) (*vulnDBStatus, error) {
	srcs, err := vs.VulnSources(cmd.Context())
	if err != nil {
		return nil, err
	}
	gen, err := vs.VulnGeneration(cmd.Context())
	if err != nil {
		return nil, err
	}
	st := &vulnDBStatus{Generation: gen, MaxAge: maxAge.String(), Stale: len(srcs) == 0, Sources: []vulnSourceStatus{}}
	for _, s := range srcs {
		ss := vulnSourceStatus{Name: s.Name, Records: s.Records, ImportedAt: s.ImportedAt, Age: "-", Stale: true}
		if !s.NewestModified.IsZero() {
			newest := s.NewestModified
			age := now.Sub(newest)
			ss.NewestModified, ss.Age, ss.Stale = &newest, humanAge(age), age > maxAge
		}
		st.Stale = st.Stale || ss.Stale
		st.Sources = append(st.Sources, ss)
	}
	return st, nil
}

// humanAge renders d in days, hours and minutes ("3d4h", "2h5m", "40s").
func humanAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 24*time.Hour:
		return d.Round(time.Minute).String()
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
}

func printVulnStatus(w io.Writer, output string, st *vulnDBStatus) error {
	if output == "json" {
		return writeJSON(w, st)
	}
	if len(st.Sources) == 0 {
		fmt.Fprintln(w, "STALE: no vulnerability data imported; load some with: berth vulndb import PATH")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tRECORDS\tNEWEST MODIFIED\tAGE\tIMPORTED\tSTATE")
	for _, s := range st.Sources {
		state := "ok"
		if s.Stale {
			state = "STALE"
		}
		newest := "-"
		if s.NewestModified != nil {
			newest = timeOrNone(*s.NewestModified)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", s.Name, s.Records, newest, s.Age, timeOrNone(s.ImportedAt), state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "current"
	if st.Stale {
		verdict = "STALE (a source's newest record is older than " + st.MaxAge + "; import fresh data)"
	}
	fmt.Fprintf(w, "data generation %d; %s\n", st.Generation, verdict)
	return nil
}
