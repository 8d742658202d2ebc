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

Access control is always on: the first start creates the system administrator
"admin" with the password in $BERTH_ADMIN_PASSWORD, or generates one and prints
it once. Nothing is readable anonymously unless a project is made public.

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
		settingFlag{"addr", "addr", `address to listen on, HOST:PORT (default ":5000", every interface; "127.0.0.1:5000" for this machine only)`},
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
		if pw := srv.InitialAdminPassword(); pw != "" {
			fmt.Fprintf(cmd.OutOrStdout(), "\nCreated the system administrator \"admin\" with this password (shown only now;\n"+
				"change it with 'berth user update admin --password-stdin'):\n\n    %s\n\n", pw)
		}
		if !isLoopback(addr) && !cfg.TLS.Enabled() {
			log.Warn("serving plain HTTP on a network address: passwords and tokens cross the network in clear text; set tls.cert_file and tls.key_file or put a TLS-terminating proxy in front",
				"addr", addr.String())
		}
	})
}
