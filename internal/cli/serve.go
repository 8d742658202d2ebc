package cli

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/server"
	"github.com/spf13/cobra"
)

// serveFlags maps each serve flag to the setting it overrides.
var serveFlags = []struct {
	name, setting, usage string
}{
	{"addr", "addr", `address to listen on, HOST:PORT (default "127.0.0.1:5000"; ":5000" for every interface)`},
	{"data-dir", "data_dir", "directory for the embedded database and blobs (default /var/lib/berth as root, else ~/.local/share/berth)"},
	{"metadata", "metadata", "metadata database URL (default: SQLite file in the data directory)"},
	{"storage", "storage", "blob storage URL (default: the data directory)"},
	{"log-level", "log.level", "log level: debug, info, warn, error"},
	{"log-format", "log.format", "log format: text or json"},
	{"tls-cert", "tls.cert_file", "TLS certificate chain (PEM); serves HTTPS with --tls-key"},
	{"tls-key", "tls.key_file", "TLS private key (PEM)"},
}

func newServeCommand() *cobra.Command {
	var cfgFile string
	values := make([]string, len(serveFlags))
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry",
		Long: `Run the registry until interrupted (SIGINT or SIGTERM), then finish in-flight
requests and stop.

Settings come from built-in defaults, then the YAML file given with --config
(or $BERTH_CONFIG), then BERTH_* environment variables (a setting's path with
dots as underscores, e.g. BERTH_LOG_LEVEL), then these flags.`,
		Example: `  berth serve
  berth serve --addr 127.0.0.1:5000 --data-dir ./data
  BERTH_LOG_FORMAT=json berth serve --config /etc/berth/config.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			overrides := map[string]any{}
			for i, f := range serveFlags {
				if cmd.Flags().Changed(f.name) {
					overrides[f.setting] = values[i]
				}
			}
			cfg, err := config.Load(config.Sources{File: configFile(cfgFile), Environ: os.Environ(), Overrides: overrides})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return runServe(cmd, cfg)
		},
	}
	cmd.Flags().StringVarP(&cfgFile, "config", "c", "", "YAML configuration file (default $BERTH_CONFIG)")
	for i, f := range serveFlags {
		cmd.Flags().StringVar(&values[i], f.name, "", f.usage)
	}
	return cmd
}

// isLoopback reports whether addr only accepts connections from this host.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func runServe(cmd *cobra.Command, cfg config.Config) error {
	log := newLogger(cfg.Log, cmd.ErrOrStderr())
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	dbPath, blobDir := cfg.Locations()
	return srv.Run(ctx, func(addr net.Addr) {
		scheme := "http"
		if cfg.TLS.Enabled() {
			scheme = "https"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Berth %s listening on %s://%s\n  metadata: %s\n  blobs:    %s\n",
			Version, scheme, addr, dbPath, blobDir)
		log.Info("listening", "addr", addr.String(), "tls", cfg.TLS.Enabled(), "metadata", dbPath, "storage", blobDir)
		if !isLoopback(addr) {
			log.Warn("Berth has no access control yet: anyone who can reach this address can push, pull and delete; listen on 127.0.0.1 or put it behind an authenticating proxy",
				"addr", addr.String())
		}
	})
}
