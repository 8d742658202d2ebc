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

func newServeCommand() *cobra.Command {
	var flags *configFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry",
		Long: `Run the registry until interrupted (SIGINT or SIGTERM), then finish in-flight
requests and stop.

Settings come from built-in defaults, then the YAML file given with --config
(or $BERTH_CONFIG), then BERTH_* environment variables (a setting's path with
dots as underscores, e.g. BERTH_LOG_LEVEL), then these flags. Every setting is
listed in docs/configuration.md.`,
		Example: `  berth serve
  berth serve --addr 127.0.0.1:5000 --data-dir ./data
  berth serve --addr :5000 --metadata postgres://berth@db:5432/berth \
      --storage 's3://registry?endpoint=https://s3.example.com&region=eu-west-1'
  BERTH_LOG_FORMAT=json berth serve --config /etc/berth/config.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := flags.load(cmd)
			if err != nil {
				return err
			}
			return runServe(cmd, cfg)
		},
	}
	flags = addConfigFlags(cmd,
		settingFlag{"addr", "addr", `address to listen on, HOST:PORT (default "127.0.0.1:5000"; ":5000" for every interface)`},
		flagDataDir, flagMetadata, flagStorage, flagLogLevel, flagLogFmt,
		settingFlag{"tls-cert", "tls.cert_file", "TLS certificate chain (PEM); serves HTTPS with --tls-key"},
		settingFlag{"tls-key", "tls.key_file", "TLS private key (PEM)"},
	)
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
