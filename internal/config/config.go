// Package config defines Berth's typed configuration: one struct with a
// default and a doc comment per field, loaded from defaults, then an optional
// YAML file, then BERTH_* environment variables, then command-line flags
// (each overriding the one before). A loaded Config is never mutated; a reload
// builds a new value.
//
// Environment variables name a setting by its path with dots written as
// underscores: log.level is BERTH_LOG_LEVEL, tls.cert_file is
// BERTH_TLS_CERT_FILE. An unknown BERTH_ variable is an error, so typos do not
// pass silently.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CurrentVersion is the config schema version this binary writes and reads.
const CurrentVersion = 1

// Config is the whole configuration of a Berth server.
type Config struct {
	// Version is the config schema version (1). Zero means current.
	Version int `koanf:"version" yaml:"version"`
	// Addr is the address the registry listens on, HOST:PORT. Default
	// ":5000" (every interface; access control is always on).
	Addr string `koanf:"addr" yaml:"addr"`
	// DataDir holds the embedded database and blobs unless Metadata and
	// Storage point elsewhere. Default: /var/lib/berth for root, else
	// $XDG_DATA_HOME/berth (~/.local/share/berth).
	DataDir string `koanf:"data_dir" yaml:"data_dir"`
	// Metadata is the metadata database URL. Empty means the embedded SQLite
	// file <data_dir>/berth.db. Forms: sqlite:///abs/path.db,
	// postgres://user:password@host:5432/db?sslmode=disable.
	Metadata string `koanf:"metadata" yaml:"metadata"`
	// Storage is the blob store URL. Empty means the directory
	// <data_dir>/storage. Forms: file:///abs/dir,
	// s3://bucket[/prefix]?endpoint=https://host&region=r&path-style=true.
	Storage string `koanf:"storage" yaml:"storage"`
	// Migrate runs the metadata database's schema migrations at start.
	// Default true; turn it off when `berth migrate` runs as its own step.
	Migrate bool `koanf:"migrate" yaml:"migrate"`
	// Postgres tunes the PostgreSQL metadata backend.
	Postgres Postgres `koanf:"postgres" yaml:"postgres"`
	// S3 tunes the S3 blob store.
	S3 S3 `koanf:"s3" yaml:"s3"`
	// Log configures logging.
	Log Log `koanf:"log" yaml:"log"`
	// TLS enables HTTPS when both files are set.
	TLS TLS `koanf:"tls" yaml:"tls"`
	// HTTP holds server limits and timeouts.
	HTTP HTTP `koanf:"http" yaml:"http"`
	// Uploads configures blob upload sessions.
	Uploads Uploads `koanf:"uploads" yaml:"uploads"`
	// Metrics configures the Prometheus endpoint.
	Metrics Metrics `koanf:"metrics" yaml:"metrics"`
	// Cache configures the in-memory cache of the pull path.
	Cache Cache `koanf:"cache" yaml:"cache"`
	// DebugAddr, when set, serves Go's pprof profiles on this separate
	// address (keep it on loopback). Default empty: off.
	DebugAddr string `koanf:"debug_addr" yaml:"debug_addr"`
	// ExternalURL is the URL clients reach the registry at, e.g.
	// https://registry.example.com: the token realm and OIDC redirects use
	// it. Empty means derived from each request's Host.
	ExternalURL string `koanf:"external_url" yaml:"external_url"`
	// AdminPassword is the password of the "admin" system administrator
	// that the first start creates (when no user exists). Empty means one
	// is generated and printed once. Ignored once any user exists.
	AdminPassword string `koanf:"admin_password" yaml:"admin_password"`
	// Auth configures authentication and authorization.
	Auth Auth `koanf:"auth" yaml:"auth"`
	// Audit configures the audit log.
	Audit Audit `koanf:"audit" yaml:"audit"`
	// GC configures online garbage collection of blobs.
	GC GC `koanf:"gc" yaml:"gc"`
	// Scan configures vulnerability scanning and its data.
	Scan Scan `koanf:"scan" yaml:"scan"`
	// Retention configures retention policies and the data they use.
	Retention RetentionConfig `koanf:"retention" yaml:"retention"`
}

// RetentionConfig configures retention policies and the facts they judge
// by (last-pull times).
type RetentionConfig struct {
	// PullFlush is how often the manifest pulls noted in memory are
	// written to the metadata store (last-pull times, batched so that a
	// pull costs no database write). Default 30s.
	PullFlush time.Duration `koanf:"pull_flush" yaml:"pull_flush"`
	// Enabled runs scheduled retention runs and purges the trash of
	// expired tags, as a once-a-minute job. Manual runs work either way.
	// Default true.
	Enabled bool `koanf:"enabled" yaml:"enabled"`
	// RestoreWindow is how long a tag that retention deleted stays
	// restorable; only after it may its manifest be deleted and its blobs
	// collected. Default 168h (7 days).
	RestoreWindow time.Duration `koanf:"restore_window" yaml:"restore_window"`
}

// Scan configures vulnerability scanning (packages vuln and scan).
type Scan struct {
	// MaxDBAge is how old the newest record of a vulnerability data source
	// may be before `berth vulndb status` reports the data as stale.
	// Default 72h.
	MaxDBAge time.Duration `koanf:"max_db_age" yaml:"max_db_age"`
	// Enabled runs scanners in this process (scan jobs, re-matching,
	// scheduled rescans, data sync). The pull gate applies whatever it is.
	// Default true.
	Enabled bool `koanf:"enabled" yaml:"enabled"`
	// Workers is how many scans run at once in this process. Default 2.
	Workers int `koanf:"workers" yaml:"workers"`
	// Scanner is "builtin" (default) or "harbor" (an external scanner
	// behind the Harbor pluggable scanner adapter API at HarborURL).
	Scanner string `koanf:"scanner" yaml:"scanner"`
	// HarborURL is the adapter's base URL ("http://trivy-adapter:8080").
	HarborURL string `koanf:"harbor_url" yaml:"harbor_url"`
	// HarborAuth is the Authorization header value sent to the adapter
	// ("Bearer …"), "" for none.
	HarborAuth string `koanf:"harbor_auth" yaml:"harbor_auth"`
	// RegistryURL is the URL an external scanner pulls from, the registry
	// as the adapter reaches it. Default: derived from the listen address.
	RegistryURL string `koanf:"registry_url" yaml:"registry_url"`
	// Rescan is how often every scanned artifact is scanned again (layers
	// read anew); 0 (default) never: new vulnerability data is applied by
	// re-matching stored inventories without a rescan.
	Rescan time.Duration `koanf:"rescan" yaml:"rescan"`
	// SyncURL is an HTTP(S) URL of OSV data (an all.zip export or an OSV
	// JSON file) imported every SyncInterval; "" for none.
	SyncURL string `koanf:"sync_url" yaml:"sync_url"`
	// SyncArtifact is a "repository:tag" in this registry whose layers hold
	// OSV data (zip or JSON), imported every SyncInterval when the tag
	// moves; "" for none.
	SyncArtifact string `koanf:"sync_artifact" yaml:"sync_artifact"`
	// SyncInterval is how often the sync sources are checked. Default 1h.
	SyncInterval time.Duration `koanf:"sync_interval" yaml:"sync_interval"`
	// MaxImageSize is the stored size above which an image gets the
	// large-image hygiene finding. Default 1 GiB.
	MaxImageSize int64 `koanf:"max_image_size" yaml:"max_image_size"`
}

// GC configures online garbage collection (package gc): blobs that no
// manifest references and no lease holds are deleted while the registry
// serves.
type GC struct {
	// Enabled runs the collection as a periodic job. Default true.
	Enabled bool `koanf:"enabled" yaml:"enabled"`
	// Interval is how often the job runs. Default 24h.
	Interval time.Duration `koanf:"interval" yaml:"interval"`
	// Grace is how long a blob a client learned about (HEAD, GET) stays
	// protected, so a manifest pushed shortly after can name it: a blob
	// HEAD renews the blob's lease to now+grace once less than grace/2 is
	// left. Default 1h.
	Grace time.Duration `koanf:"grace" yaml:"grace"`
}

// Auth configures authentication and authorization.
type Auth struct {
	// AutoCreateProjects says whose push to a new project name creates the
	// project: none, admins (system administrators) or users (any signed-in
	// user, who becomes its project admin). Robots never create projects.
	// Default admins.
	AutoCreateProjects string `koanf:"auto_create_projects" yaml:"auto_create_projects"`
	// TrustProxy honours X-Forwarded-Proto and X-Forwarded-Host when the
	// token realm is derived from requests (external_url empty). Turn it on
	// only behind a proxy that sets them. Default false.
	TrustProxy bool `koanf:"trust_proxy" yaml:"trust_proxy"`
	// Token configures the registry tokens the token service issues.
	Token Token `koanf:"token" yaml:"token"`
	// FailedLogins limits password guessing.
	FailedLogins FailedLogins `koanf:"failed_logins" yaml:"failed_logins"`
	// OIDC configures sign-in for people through an OpenID Connect
	// provider; off while issuer is empty.
	OIDC OIDC `koanf:"oidc" yaml:"oidc"`
	// WorkloadIdentity lists trusted issuers of workload tokens (CI jobs,
	// Kubernetes service accounts) and the robot each kind of token acts
	// as. YAML only. Default none.
	WorkloadIdentity []WorkloadRule `koanf:"workload_identity" yaml:"workload_identity"`
}

// Token configures registry tokens.
type Token struct {
	// Issuer is the tokens' "iss". Default "berth".
	Issuer string `koanf:"issuer" yaml:"issuer"`
	// Service is the tokens' audience and the service= of challenges.
	// Default "berth".
	Service string `koanf:"service" yaml:"service"`
	// TTL is how long an access token is valid. Default 5m.
	TTL time.Duration `koanf:"ttl" yaml:"ttl"`
	// RefreshTTL is how long a refresh (offline) token is valid. Default
	// 720h.
	RefreshTTL time.Duration `koanf:"refresh_ttl" yaml:"refresh_ttl"`
	// KeyRotation is how often a new signing key replaces the current one.
	// Default 720h.
	KeyRotation time.Duration `koanf:"key_rotation" yaml:"key_rotation"`
}

// FailedLogins limits failed password checks per account and per client
// address.
type FailedLogins struct {
	// Max is how many failures each account, and each address, may have in
	// Window before further attempts get 429. Default 10.
	Max int `koanf:"max" yaml:"max"`
	// Window is the period failures are counted over. Default 5m.
	Window time.Duration `koanf:"window" yaml:"window"`
}

// OIDC configures OpenID Connect sign-in for people.
type OIDC struct {
	// Issuer is the provider's issuer URL; empty turns OIDC sign-in off.
	Issuer string `koanf:"issuer" yaml:"issuer"`
	// ClientID is Berth's client id at the provider.
	ClientID string `koanf:"client_id" yaml:"client_id"`
	// ClientSecret is Berth's client secret at the provider.
	ClientSecret string `koanf:"client_secret" yaml:"client_secret"`
	// RedirectURL is the callback the provider sends users back to. Empty
	// means <external_url>/auth/oidc/callback.
	RedirectURL string `koanf:"redirect_url" yaml:"redirect_url"`
	// Scopes are requested, comma-separated. Default
	// "openid,profile,email".
	Scopes string `koanf:"scopes" yaml:"scopes"`
	// UsernameClaim names the claim that becomes the user name. Default
	// preferred_username (falling back to email, then sub).
	UsernameClaim string `koanf:"username_claim" yaml:"username_claim"`
	// GroupsClaim names the claim that lists the user's groups; empty
	// means groups are not used.
	GroupsClaim string `koanf:"groups_claim" yaml:"groups_claim"`
	// AdminGroup makes members of this group system administrators; empty
	// means none.
	AdminGroup string `koanf:"admin_group" yaml:"admin_group"`
}

// WorkloadRule trusts tokens of one issuer and audience whose claims match,
// and lets them act as a robot.
type WorkloadRule struct {
	// Issuer is the token issuer, e.g.
	// https://token.actions.githubusercontent.com.
	Issuer string `koanf:"issuer" yaml:"issuer"`
	// Audience must be in the token's "aud".
	Audience string `koanf:"audience" yaml:"audience"`
	// Claims maps claim names to path.Match patterns; all must match.
	Claims map[string]string `koanf:"claims" yaml:"claims"`
	// Robot is the robot account the token acts as.
	Robot string `koanf:"robot" yaml:"robot"`
}

// Audit configures the audit log.
type Audit struct {
	// Retention is how long audit events are kept. Default 2160h (90
	// days).
	Retention time.Duration `koanf:"retention" yaml:"retention"`
}

// Postgres tunes the PostgreSQL metadata backend.
type Postgres struct {
	// MaxConns is the size of each of a replica's two pools (the metadata
	// store's and the job queue's). Zero means the URL's pool_max_conns,
	// else max(4, CPUs).
	MaxConns int32 `koanf:"max_conns" yaml:"max_conns"`
}

// S3 tunes the S3-compatible blob store. Credentials come from the usual
// AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), the shared credentials file or an instance role.
type S3 struct {
	// PartSize is the multipart part size; every open upload holds up to one
	// part in memory. Zero means 16 MiB.
	PartSize int64 `koanf:"part_size" yaml:"part_size"`
	// Redirect sends blob GETs to presigned bucket URLs instead of streaming
	// them through Berth. The bucket endpoint must be reachable by clients.
	// Default false.
	Redirect bool `koanf:"redirect" yaml:"redirect"`
	// RedirectExpiry is how long a presigned URL is valid. Zero means 10m.
	RedirectExpiry time.Duration `koanf:"redirect_expiry" yaml:"redirect_expiry"`
}

// Log configures log/slog output.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `koanf:"level" yaml:"level"`
	// Format is text or json. Default text.
	Format string `koanf:"format" yaml:"format"`
}

// TLS names a certificate and key in PEM files.
type TLS struct {
	// CertFile is the certificate chain (PEM).
	CertFile string `koanf:"cert_file" yaml:"cert_file"`
	// KeyFile is the private key (PEM).
	KeyFile string `koanf:"key_file" yaml:"key_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// HTTP holds server limits and timeouts.
type HTTP struct {
	// ReadHeaderTimeout bounds reading request headers. Default 10s.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout" yaml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout time.Duration `koanf:"idle_timeout" yaml:"idle_timeout"`
	// ShutdownTimeout is how long a graceful shutdown waits for in-flight
	// requests before closing them. Default 30s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" yaml:"shutdown_timeout"`
	// MaxManifestBytes is the largest manifest accepted. Default 4 MiB.
	MaxManifestBytes int64 `koanf:"max_manifest_bytes" yaml:"max_manifest_bytes"`
	// MaxBlobBytes is the largest blob (and upload) accepted; 0 means no
	// limit. Default 0.
	MaxBlobBytes int64 `koanf:"max_blob_bytes" yaml:"max_blob_bytes"`
	// MaxPageSize caps n in tag and catalog listings. Default 10000.
	MaxPageSize int `koanf:"max_page_size" yaml:"max_page_size"`
}

// Uploads configures blob upload sessions.
type Uploads struct {
	// ExpireAfter is how long an upload session may stay idle before the
	// expiry job removes it and its partial data. Default 24h.
	ExpireAfter time.Duration `koanf:"expire_after" yaml:"expire_after"`
	// ExpiryInterval is how often the expiry job runs. Default 10m.
	ExpiryInterval time.Duration `koanf:"expiry_interval" yaml:"expiry_interval"`
	// BlobLease is how long a committed blob that no manifest references yet
	// is protected from garbage collection. Default 24h.
	BlobLease time.Duration `koanf:"blob_lease" yaml:"blob_lease"`
}

// Cache configures the in-memory cache of repositories and manifests that
// manifest HEAD and GET are answered from.
type Cache struct {
	// ManifestBytes bounds the manifest bytes cached; 0 turns the cache
	// off. Default 64 MiB.
	ManifestBytes int64 `koanf:"manifest_bytes" yaml:"manifest_bytes"`
	// TTL bounds how long an entry is trusted without an invalidation.
	// Default 30s.
	TTL time.Duration `koanf:"ttl" yaml:"ttl"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Enabled serves /metrics on the registry address. Default true.
	Enabled bool `koanf:"enabled" yaml:"enabled"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Version: CurrentVersion,
		Migrate: true,
		Addr:    ":5000",
		DataDir: DefaultDataDir(),
		Log:     Log{Level: "info", Format: "text"},
		HTTP: HTTP{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
			MaxManifestBytes:  4 << 20,
			MaxPageSize:       10000,
		},
		Uploads: Uploads{
			ExpireAfter:    24 * time.Hour,
			ExpiryInterval: 10 * time.Minute,
			BlobLease:      24 * time.Hour,
		},
		Metrics: Metrics{Enabled: true},
		Cache:   Cache{ManifestBytes: 64 << 20, TTL: 30 * time.Second},
		Auth: Auth{
			AutoCreateProjects: "admins",
			Token: Token{
				Issuer: "berth", Service: "berth", TTL: 5 * time.Minute,
				RefreshTTL: 720 * time.Hour, KeyRotation: 720 * time.Hour,
			},
			FailedLogins:     FailedLogins{Max: 10, Window: 5 * time.Minute},
			OIDC:             OIDC{Scopes: "openid,profile,email", UsernameClaim: "preferred_username"},
			WorkloadIdentity: []WorkloadRule{},
		},
		Audit:     Audit{Retention: 2160 * time.Hour},
		GC:        GC{Enabled: true, Interval: 24 * time.Hour, Grace: time.Hour},
		Scan:      Scan{MaxDBAge: 72 * time.Hour, Enabled: true, Workers: 2, Scanner: "builtin", SyncInterval: time.Hour, MaxImageSize: 1 << 30},
		Retention: RetentionConfig{PullFlush: 30 * time.Second, Enabled: true, RestoreWindow: 168 * time.Hour},
	}
}

// DefaultDataDir is /var/lib/berth when running as root, otherwise
// $XDG_DATA_HOME/berth, falling back to ~/.local/share/berth and finally
// ./berth-data.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/berth"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "berth")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "berth")
	}
	return "berth-data"
}

// The metadata and storage backends.
const (
	BackendSQLite     = "sqlite"
	BackendPostgres   = "postgres"
	BackendFilesystem = "filesystem"
	BackendS3         = "s3"
)

// MetadataBackend returns which metadata backend Metadata names
// (BackendSQLite or BackendPostgres).
func (c *Config) MetadataBackend() (string, error) {
	switch {
	case c.Metadata == "" || strings.HasPrefix(c.Metadata, "sqlite://"):
		return BackendSQLite, nil
	case strings.HasPrefix(c.Metadata, "postgres://") || strings.HasPrefix(c.Metadata, "postgresql://"):
		return BackendPostgres, nil
	}
	return "", fmt.Errorf("metadata: %q is not a sqlite:// or postgres:// URL", Redact(c.Metadata))
}

// MetadataPath returns the SQLite file used when Metadata is empty or a
// sqlite: URL.
func (c *Config) MetadataPath() (string, error) {
	switch b, err := c.MetadataBackend(); {
	case err != nil:
		return "", err
	case b != BackendSQLite:
		return "", fmt.Errorf("metadata: %s is not a SQLite database", Redact(c.Metadata))
	case c.Metadata == "":
		return filepath.Join(c.DataDir, "berth.db"), nil
	}
	return strings.TrimPrefix(c.Metadata, "sqlite://"), nil
}

// StorageBackend returns which blob store Storage names
// (BackendFilesystem or BackendS3).
func (c *Config) StorageBackend() (string, error) {
	switch {
	case c.Storage == "" || strings.HasPrefix(c.Storage, "file://"):
		return BackendFilesystem, nil
	case strings.HasPrefix(c.Storage, "s3://"):
		return BackendS3, nil
	}
	return "", fmt.Errorf("storage: %q is not a file:// or s3:// URL", Redact(c.Storage))
}

// StoragePath returns the blob directory used when Storage is empty or a
// file: URL.
func (c *Config) StoragePath() (string, error) {
	switch b, err := c.StorageBackend(); {
	case err != nil:
		return "", err
	case b != BackendFilesystem:
		return "", fmt.Errorf("storage: %s is not a directory", Redact(c.Storage))
	case c.Storage == "":
		return filepath.Join(c.DataDir, "storage"), nil
	}
	return strings.TrimPrefix(c.Storage, "file://"), nil
}

// Locations returns where metadata and blobs live, for people to read:
// file paths for the embedded backends, redacted URLs otherwise.
func (c *Config) Locations() (metadata, storage string) {
	if p, err := c.MetadataPath(); err == nil {
		metadata = p
	} else {
		metadata = Redact(c.Metadata)
	}
	if p, err := c.StoragePath(); err == nil {
		storage = p
	} else {
		storage = Redact(c.Storage)
	}
	return metadata, storage
}

// Redact returns rawURL without its password or secret query parameters,
// for logs and messages.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	for _, k := range []string{"secret-key", "secret_key", "password", "session-token"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// Validate reports every problem in c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Version != 0 && c.Version != CurrentVersion {
		bad("version: %d is not supported (this build reads version %d)", c.Version, CurrentVersion)
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		bad("addr: %q is not HOST:PORT", c.Addr)
	}
	if c.DebugAddr != "" {
		if _, port, err := net.SplitHostPort(c.DebugAddr); err != nil || port == "" {
			bad("debug_addr: %q is not HOST:PORT", c.DebugAddr)
		}
	}
	if c.DataDir == "" {
		bad("data_dir: must be set")
	}
	if _, err := c.MetadataBackend(); err != nil {
		bad("%v", err)
	}
	if _, err := c.StorageBackend(); err != nil {
		bad("%v", err)
	}
	if c.Postgres.MaxConns < 0 {
		bad("postgres.max_conns: must be 0 (default) or positive")
	}
	if c.S3.PartSize < 0 || c.S3.RedirectExpiry < 0 {
		bad("s3: part_size and redirect_expiry must be 0 (default) or positive")
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format: %q is not text or json", c.Log.Format)
	}
	if c.TLS.Enabled() {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			bad("tls: cert_file and key_file must both be set")
		}
		for _, f := range []string{c.TLS.CertFile, c.TLS.KeyFile} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				bad("tls: %v", err)
			}
		}
	}
	positive := map[string]time.Duration{
		"http.read_header_timeout":  c.HTTP.ReadHeaderTimeout,
		"http.idle_timeout":         c.HTTP.IdleTimeout,
		"http.shutdown_timeout":     c.HTTP.ShutdownTimeout,
		"uploads.expire_after":      c.Uploads.ExpireAfter,
		"uploads.expiry_interval":   c.Uploads.ExpiryInterval,
		"uploads.blob_lease":        c.Uploads.BlobLease,
		"auth.token.ttl":            c.Auth.Token.TTL,
		"auth.token.refresh_ttl":    c.Auth.Token.RefreshTTL,
		"auth.token.key_rotation":   c.Auth.Token.KeyRotation,
		"auth.failed_logins.window": c.Auth.FailedLogins.Window,
		"audit.retention":           c.Audit.Retention,
		"gc.interval":               c.GC.Interval,
		"gc.grace":                  c.GC.Grace,
		"retention.restore_window":  c.Retention.RestoreWindow,
		"scan.max_db_age":           c.Scan.MaxDBAge,
		"scan.sync_interval":        c.Scan.SyncInterval,
		"retention.pull_flush":      c.Retention.PullFlush,
	}
	for _, k := range sortedKeys(positive) {
		if positive[k] <= 0 {
			bad("%s: must be a positive duration, got %v", k, positive[k])
		}
	}
	if c.Cache.ManifestBytes < 0 {
		bad("cache.manifest_bytes: must be 0 (off) or positive")
	}
	if c.Cache.ManifestBytes > 0 && c.Cache.TTL <= 0 {
		bad("cache.ttl: must be a positive duration when the cache is on")
	}
	if c.HTTP.MaxManifestBytes <= 0 {
		bad("http.max_manifest_bytes: must be positive")
	}
	if c.HTTP.MaxBlobBytes < 0 {
		bad("http.max_blob_bytes: must be 0 (no limit) or positive")
	}
	if c.HTTP.MaxPageSize <= 0 {
		bad("http.max_page_size: must be positive")
	}
	c.validateScan(bad)
	c.validateAuth(bad)
	return errors.Join(errs...)
}

// validateScan checks the scanning settings.
func (c *Config) validateScan(bad func(format string, args ...any)) {
	switch c.Scan.Scanner {
	case "builtin":
	case "harbor":
		if c.Scan.HarborURL == "" {
			bad("scan.harbor_url: required when scan.scanner is harbor")
		}
	default:
		bad("scan.scanner: %q is not builtin or harbor", c.Scan.Scanner)
	}
	if c.Scan.Workers <= 0 {
		bad("scan.workers: must be positive")
	}
	if c.Scan.Rescan < 0 {
		bad("scan.rescan: must be 0 (never) or a positive duration")
	}
	if c.Scan.MaxImageSize <= 0 {
		bad("scan.max_image_size: must be positive")
	}
}

// validateAuth checks the access-control settings.
func (c *Config) validateAuth(bad func(format string, args ...any)) {
	switch c.Auth.AutoCreateProjects {
	case "none", "admins", "users":
	default:
		bad("auth.auto_create_projects: %q is not one of none, admins, users", c.Auth.AutoCreateProjects)
	}
	if c.ExternalURL != "" {
		if u, err := url.Parse(c.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("external_url: %q is not an http(s) URL", c.ExternalURL)
		}
	}
	if c.Auth.Token.Issuer == "" || c.Auth.Token.Service == "" {
		bad("auth.token: issuer and service must be set")
	}
	if c.Auth.FailedLogins.Max <= 0 {
		bad("auth.failed_logins.max: must be positive")
	}
	if o := c.Auth.OIDC; o.Issuer != "" {
		if o.ClientID == "" {
			bad("auth.oidc.client_id: must be set when auth.oidc.issuer is")
		}
		if o.RedirectURL == "" && c.ExternalURL == "" {
			bad("auth.oidc.redirect_url: must be set (or external_url) when auth.oidc.issuer is")
		}
	}
	for i, w := range c.Auth.WorkloadIdentity {
		if w.Issuer == "" || w.Audience == "" || w.Robot == "" {
			bad("auth.workload_identity[%d]: issuer, audience and robot must be set", i)
		}
	}
}
