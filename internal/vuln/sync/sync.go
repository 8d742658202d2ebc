// Package sync keeps the offline vulnerability database current by
// importing OSV data (see package osv) from two kinds of source, checked
// whenever the caller runs Sync (the server does so every
// scan.sync_interval):
//
//   - an HTTP(S) URL (scan.sync_url), fetched conditionally with the
//     validators (ETag, Last-Modified) of the last successful sync, so an
//     unchanged file is not downloaded again;
//   - an OCI artifact in this registry (scan.sync_artifact, "repository:tag")
//     whose layers are OSV zips or JSON files, imported when the tag points
//     at a manifest other than the one last synced. An air-gapped site
//     updates its data by pushing one artifact.
//
// Data is streamed to a temporary file, never held in memory, and then
// imported with osv.Import, whose per-record "newer replaces older" rule
// makes importing the same data again harmless. What was last synced is
// kept only in the Syncer's memory: after a restart each source is
// imported once more, which changes nothing.
//
// Import the package under another name (vulnsync) to keep the standard
// library's sync in reach.
package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/vuln/osv"
	"github.com/opencontainers/go-digest"
)

// DefaultMaxBytes is the default of Config.MaxBytes: 4 GiB.
const DefaultMaxBytes int64 = 4 << 30

// Registry is what the artifact source needs of the registry: reading a
// manifest by tag or digest and opening a blob of a repository.
// *registry.Service satisfies it.
type Registry interface {
	// GetManifest returns the manifest repo:reference (a tag or a digest),
	// with its bytes when withContent; ErrNotFound when there is none.
	GetManifest(ctx context.Context, repo, reference string, withContent bool) (*meta.Manifest, error)
	// OpenBlob opens the blob dgst of repo; with allowRedirect false the
	// result always has Content, which the caller closes.
	OpenBlob(ctx context.Context, repo string, dgst digest.Digest, allowRedirect bool) (*registry.BlobContent, error)
}

var _ Registry = (*registry.Service)(nil)

// Config configures a Syncer. At least one of URL and Artifact is set.
type Config struct {
	// Store receives the records.
	Store meta.VulnStore
	// URL is an http or https URL of OSV data: a zip archive such as
	// osv.dev's all.zip, or a JSON file holding a record or an array of
	// records. "" for none. Credentials in it (user info, query) are sent
	// but never logged nor recorded.
	URL string
	// Artifact is "repository:tag" of an artifact in Registry whose layers
	// hold OSV data; "" for none.
	Artifact string
	// Registry reads the artifact; required when Artifact is set.
	Registry Registry
	// HTTPClient fetches URL; nil means a client without an overall
	// timeout (a download may take long) that gives up on a server that
	// does not answer within a minute. Cancel the context of Sync to stop.
	HTTPClient *http.Client
	// Logger receives progress and outcomes; nil discards them.
	Logger *slog.Logger
	// TempDir is where downloads and layers are spooled before import; ""
	// means the system's.
	TempDir string
	// MaxBytes bounds one download or layer; zero means DefaultMaxBytes.
	MaxBytes int64
}

// Syncer imports OSV data from its configured sources. Its methods are
// safe for concurrent use; Sync calls run one at a time.
type Syncer struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client

	url      *urlSource      // nil when not configured
	artifact *artifactSource // nil when not configured

	// running holds a token while a Sync runs; Sync waits for it.
	running chan struct{}
}

// New checks cfg and returns a Syncer for it. A malformed URL or Artifact,
// or neither of them, is ErrInvalid.
func New(cfg Config) (*Syncer, error) {
	if cfg.Store == nil {
		return nil, errdefs.Invalid("vulnerability sync: no store")
	}
	if cfg.URL == "" && cfg.Artifact == "" {
		return nil, errdefs.Invalid("vulnerability sync: no source; set a URL or an artifact")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	cfg.MaxBytes = min(cfg.MaxBytes, math.MaxInt64-1) // spool reads one byte more
	s := &Syncer{cfg: cfg, log: cfg.Logger, client: cfg.HTTPClient, running: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = defaultClient()
	}
	if cfg.URL != "" {
		u, err := newURLSource(cfg.URL)
		if err != nil {
			return nil, err
		}
		s.url = u
	}
	if cfg.Artifact != "" {
		if cfg.Registry == nil {
			return nil, errdefs.Invalid("vulnerability sync: artifact %q set without a registry", cfg.Artifact)
		}
		repo, tag, err := ParseArtifact(cfg.Artifact)
		if err != nil {
			return nil, err
		}
		s.artifact = &artifactSource{repo: repo, tag: tag}
	}
	return s, nil
}

// defaultClient is the HTTPClient used when Config has none.
func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: t}
}

// Result says what one Sync did, per source.
type Result struct {
	// URL is the outcome of the URL source.
	URL SourceResult `json:"url"`
	// Artifact is the outcome of the artifact source.
	Artifact SourceResult `json:"artifact"`
}

// Changed reports whether any source added or replaced records, so that
// stored scan results should be matched again.
func (r Result) Changed() bool { return r.URL.Changed || r.Artifact.Changed }

// SourceResult is the outcome of one source.
type SourceResult struct {
	// Source is the name the source's records are attributed to (as
	// `berth vulndb status` lists it); "" when the source is not
	// configured.
	Source string `json:"source,omitempty"`
	// Fetched is true when new data was fetched and imported; false when
	// the source said nothing changed (HTTP 304, the same ETag, the same
	// manifest digest), when it failed before importing, or when it is not
	// configured.
	Fetched bool `json:"fetched"`
	// Changed is true when records were added or replaced, even by an
	// import that then failed.
	Changed bool `json:"changed"`
	// Reports are the finished imports: one for a download, one per
	// imported layer of an artifact.
	Reports []*osv.Report `json:"reports,omitempty"`
	// Err is why the source failed, or nil.
	Err error `json:"-"`
}

// Sync checks every configured source once and imports what changed. A
// failing source does not stop the other; the error joins the failures
// (each also in its SourceResult.Err). The data a failed source had
// already stored is kept; the next Sync fetches it again.
func (s *Syncer) Sync(ctx context.Context) (Result, error) {
	select {
	case s.running <- struct{}{}:
		defer func() { <-s.running }()
	case <-ctx.Done():
		return Result{}, fmt.Errorf("vulnerability sync: %w", ctx.Err())
	}
	var res Result
	if s.url != nil {
		res.URL = s.syncURL(ctx)
	}
	if s.artifact != nil {
		res.Artifact = s.syncArtifact(ctx)
	}
	return res, errors.Join(res.URL.Err, res.Artifact.Err)
}

// importFile imports the OSV data at path under source, logging progress,
// and adds the report to res. On failure res.Changed still says whether
// the store's data moved.
func (s *Syncer) importFile(ctx context.Context, res *SourceResult, path, what string) error {
	before, genErr := s.cfg.Store.VulnGeneration(ctx)
	log := s.log.With("source", res.Source)
	next := 10000
	rep, err := osv.Import(ctx, s.cfg.Store, path, osv.Options{
		Source: res.Source,
		Progress: func(p osv.Progress) {
			if p.Done >= next {
				next = p.Done + 10000
				log.InfoContext(ctx, "importing vulnerability records", "from", what, "read", p.Done, "total", p.Total, "stored", p.Stored)
			}
		},
	})
	if err != nil {
		if after, err2 := s.cfg.Store.VulnGeneration(ctx); genErr == nil && err2 == nil && after != before {
			res.Changed = true
		}
		return fmt.Errorf("import %s: %w", what, err)
	}
	res.Reports = append(res.Reports, rep)
	res.Changed = res.Changed || rep.Changed()
	log.InfoContext(ctx, "imported vulnerability records", "from", what, "read", rep.Read, "added", rep.Added,
		"replaced", rep.Replaced, "unchanged", rep.Unchanged, "skipped", rep.SkippedCount, "records", rep.Data.Records)
	if rep.SkippedCount > 0 {
		log.WarnContext(ctx, "some entries were not valid OSV records", "from", what, "skipped", rep.SkippedCount,
			"first", rep.Skipped[0].Entry, "reason", rep.Skipped[0].Reason)
	}
	return nil
}
