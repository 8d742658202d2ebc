package config

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable Berth reads.
const EnvPrefix = "BERTH_"

// envNotSettings are BERTH_ variables that are not config paths.
var envNotSettings = map[string]bool{
	"BERTH_CONFIG":     true, // the config file, read by the CLI
	"BERTH_CONFIG_DIR": true, // where the CLI keeps its logins (berth login)
}

// Sources says where to load a Config from. Later sources override earlier
// ones: defaults, File, Environ, Overrides.
type Sources struct {
	// File is a YAML file; empty for none.
	File string
	// Environ is the environment as os.Environ returns it; only BERTH_*
	// entries are read.
	Environ []string
	// Overrides maps setting paths ("addr", "log.level") to values, e.g.
	// from command-line flags.
	Overrides map[string]any
}

// Load builds a Config from src and validates it.
func Load(src Sources) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Default(), "koanf"), nil); err != nil {
		return Config{}, fmt.Errorf("load defaults: %w", err)
	}
	known := knownKeys(k)
	if src.File != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("read config file %s: %w", src.File, err)
		}
		for _, key := range fk.Keys() {
			if !known[key] {
				return Config{}, fmt.Errorf("config file %s: unknown setting %q (known: %s)", src.File, key, strings.Join(sortedKeys(known), ", "))
			}
		}
		if err := k.Merge(fk); err != nil {
			return Config{}, fmt.Errorf("merge config file %s: %w", src.File, err)
		}
	}
	env, err := envSettings(src.Environ, known)
	if err != nil {
		return Config{}, err
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return Config{}, fmt.Errorf("load environment: %w", err)
	}
	for key := range src.Overrides {
		if !known[key] {
			return Config{}, fmt.Errorf("unknown setting %q", key)
		}
	}
	if err := k.Load(confmap.Provider(src.Overrides, "."), nil); err != nil {
		return Config{}, fmt.Errorf("load overrides: %w", err)
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if c.Version == 0 {
		c.Version = CurrentVersion
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// knownKeys returns the leaf setting paths of the defaults.
func knownKeys(k *koanf.Koanf) map[string]bool {
	out := make(map[string]bool)
	for _, key := range k.Keys() {
		out[key] = true
	}
	return out
}

// EnvName returns the environment variable that sets path.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// envSettings maps BERTH_* variables onto known setting paths.
func envSettings(environ []string, known map[string]bool) (map[string]any, error) {
	byEnv := make(map[string]string, len(known))
	for key := range known {
		byEnv[EnvName(key)] = key
	}
	out := make(map[string]any)
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || envNotSettings[name] {
			continue
		}
		key, ok := byEnv[name]
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not a Berth setting (known: %s)", name, strings.Join(sortedKeys(byEnv), ", "))
		}
		out[key] = val
	}
	return out, nil
}

// Keys returns every setting path, sorted, for documentation and tests.
func Keys() []string {
	k := koanf.New(".")
	_ = k.Load(structs.Provider(Default(), "koanf"), nil)
	return sortedKeys(knownKeys(k))
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), cmp.Compare[string])
}
