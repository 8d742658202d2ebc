package cli

import (
	"os"

	"github.com/berth-registry/berth/internal/config"
	"github.com/spf13/cobra"
)

// settingFlag is a flag that overrides one configuration setting.
type settingFlag struct {
	name, setting, usage string
}

// configFlags binds --config and a set of setting flags to a command, and
// loads the configuration from defaults, file, environment and the flags
// the user set.
type configFlags struct {
	file   string
	flags  []settingFlag
	values []string
}

func addConfigFlags(cmd *cobra.Command, flags ...settingFlag) *configFlags {
	f := &configFlags{flags: flags, values: make([]string, len(flags))}
	cmd.Flags().StringVarP(&f.file, "config", "c", "", "YAML configuration file (default $BERTH_CONFIG)")
	for i, s := range flags {
		cmd.Flags().StringVar(&f.values[i], s.name, "", s.usage)
	}
	return f
}

// load returns the configuration; a bad one is a usage error (exit 2).
func (f *configFlags) load(cmd *cobra.Command) (config.Config, error) {
	overrides := map[string]any{}
	for i, s := range f.flags {
		if cmd.Flags().Changed(s.name) {
			overrides[s.setting] = f.values[i]
		}
	}
	cfg, err := config.Load(config.Sources{File: configFile(f.file), Environ: os.Environ(), Overrides: overrides})
	if err != nil {
		return config.Config{}, &exitError{code: 2, err: err}
	}
	return cfg, nil
}

// The setting flags commands share.
var (
	flagDataDir  = settingFlag{"data-dir", "data_dir", "directory for the embedded database and blobs (default /var/lib/berth as root, else ~/.local/share/berth)"}
	flagMetadata = settingFlag{"metadata", "metadata", "metadata database URL: sqlite:///path or postgres://... (default: SQLite file in the data directory)"}
	flagStorage  = settingFlag{"storage", "storage", "blob storage URL: file:///dir or s3://bucket?endpoint=... (default: the data directory)"}
	flagLogLevel = settingFlag{"log-level", "log.level", "log level: debug, info, warn, error"}
	flagLogFmt   = settingFlag{"log-format", "log.format", "log format: text or json"}
)
