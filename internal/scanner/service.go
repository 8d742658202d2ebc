package scanner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/sbom"
	"github.com/berth-registry/berth/internal/vuln/match"
	"github.com/opencontainers/go-digest"
)

// BuiltinScanner names the built-in scanner in reports. Bump the number
// when a change to inventories (a new extractor, a fix in one) should make
// every artifact scanned anew: reports made by another scanner name are
// queued again.
const BuiltinScanner = "berth/1"

// Config configures a Service.
type Config struct {
	// Store is the metadata store; it must have meta.ScanStore and
	// meta.VulnStore.
	Store meta.Store
	// Registry reads blobs and pushes SBOM referrers.
	Registry *registry.Service
	// External, when set, scans instead of the built-in scanner.
	External External
	// Workers is how many scans Run works at once; default 2.
	Workers int
	// Lease is how long a claimed scan is held before another scanner may
	// take it over; default 15m. A scan is cut off a minute before.
	Lease time.Duration
	// MaxAttempts is how many claims a scan gets before it is recorded as
	// failed (a scan that keeps killing its process); default 3.
	MaxAttempts int
	// MaxDBAge is the age past which the vulnerability data is stale.
	MaxDBAge time.Duration
	// MaxImageSize is the size above which an image gets the large-image
	// hygiene finding; 0 means 1 GiB.
	MaxImageSize int64
	// ToolVersion is Berth's version, recorded in SBOMs.
	ToolVersion string
	// Namespace is the URI prefix of SPDX document namespaces (the
	// registry's external URL), "" for the default.
	Namespace string
	// TempDir is where layers are spilled while scanning; "" means the
	// system's.
	TempDir string
	// PushSBOMs pushes each scan's SBOMs as referrers of the artifact.
	PushSBOMs bool
	// Rescan, when positive, is how often a finished scan is done again.
	Rescan time.Duration
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// External is a scanner outside Berth (a Harbor pluggable scanner
// adapter). It reports vulnerabilities only: no inventory, so its results
// are refreshed by rescans, not re-matched.
type External interface {
	// Name names the scanner in reports ("harbor:Trivy/0.50.1").
	Name(ctx context.Context) (string, error)
	// Scan scans repo@dgst (of media type mediaType) and returns its
	// result.
	Scan(ctx context.Context, repo string, dgst digest.Digest, mediaType string) (*Result, error)
}

// Service queues and runs scans, re-matches results and decides the pull
// gate. Build it with New, start its workers with Run.
type Service struct {
	cfg      Config
	store    meta.Store
	scans    meta.ScanStore
	vulns    meta.VulnStore
	projects meta.Projects
	reg      *registry.Service
	inv      *inventory.Scanner
	matcher  *match.Matcher
	log      *slog.Logger
	owner    string
	kick     chan struct{}
	policies policyCache
	results  resultCache
	metrics  *Metrics
	// rematchMu keeps one re-match pass at a time in this process.
	rematchMu sync.Mutex
}

// New returns a Service on cfg.
func New(cfg Config) (*Service, error) {
	scans, ok := meta.ScanOf(cfg.Store)
	if !ok {
		return nil, errdefs.Unsupported("scanning: the metadata store keeps no scan reports")
	}
	vulns, ok := meta.VulnOf(cfg.Store)
	if !ok {
		return nil, errdefs.Unsupported("scanning: the metadata store keeps no vulnerability data")
	}
	projects, ok := projectsOf(cfg.Store)
	if !ok {
		return nil, errdefs.Unsupported("scanning: the metadata store keeps no projects")
	}
	if cfg.Registry == nil {
		return nil, errors.New("scanning: no registry service")
	}
	inv, err := inventory.New()
	if err != nil {
		return nil, fmt.Errorf("scanning: %w", err)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 15 * time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.MaxDBAge <= 0 {
		cfg.MaxDBAge = 72 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		cfg: cfg, store: cfg.Store, scans: scans, vulns: vulns, projects: projects,
		reg: cfg.Registry, inv: inv, matcher: match.New(vulns), log: log,
		owner: ownerName(), kick: make(chan struct{}, 1),
		policies: newPolicyCache(), results: newResultCache(256), metrics: defaultMetrics,
	}, nil
}

// ownerName identifies this process's claims: host, pid and a random part.
func ownerName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// projectsOf finds the project store behind s.
func projectsOf(s meta.Store) (meta.Projects, bool) {
	for s != nil {
		if p, ok := s.(meta.Projects); ok {
			return p, true
		}
		u, ok := s.(meta.Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// scannerName is the name of the scanner that does the work.
func (s *Service) scannerName(ctx context.Context) string {
	if s.cfg.External != nil {
		name, err := s.cfg.External.Name(ctx)
		if err == nil {
			return name
		}
	}
	return BuiltinScanner
}

// Kick wakes an idle worker of this process to look for queued scans.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// OnPush queues a scan of a manifest just pushed to repo when its project
// scans on push. It fits registry.Service.OnManifestPut; failures are
// logged (the periodic sweep queues what was missed).
func (s *Service) OnPush(ctx context.Context, repo string, dgst digest.Digest) {
	ctx = context.WithoutCancel(ctx)
	pol, err := s.policies.policy(ctx, s, access.ProjectOf(repo))
	if err != nil {
		if !errdefs.IsNotFound(err) {
			s.log.WarnContext(ctx, "scan on push: read the project's scan policy", "repository", repo, "err", err)
		}
		return
	}
	if !pol.ScanOnPush {
		return
	}
	if _, err := s.scans.QueueScans(ctx, []meta.ScanRequest{{Digest: dgst, Repository: repo}}, false, s.now()); err != nil {
		s.log.WarnContext(ctx, "scan on push: queue", "repository", repo, "digest", dgst, "err", err)
		return
	}
	s.metrics.queued.Inc()
	s.Kick()
}

// OnDelete removes the SBOM referrers the scanner made of a manifest just
// deleted from repo: they are derived data, and left behind they would keep
// the blobs they share with other artifacts (the empty config) from being
// deleted. It fits registry.Service.OnManifestDelete; failures are logged.
func (s *Service) OnDelete(ctx context.Context, repo string, dgst digest.Digest) {
	ctx = access.WithPrincipal(context.WithoutCancel(ctx), scannerPrincipal)
	r, err := s.store.GetRepository(ctx, repo)
	if err != nil {
		return
	}
	refs, err := s.store.ListReferrers(ctx, r.ID, dgst, "")
	if err != nil {
		s.log.WarnContext(ctx, "list the SBOMs of a deleted manifest", "repository", repo, "digest", dgst, "err", err)
		return
	}
	for _, m := range refs {
		if m.Annotations[sbom.AnnotationGenerator] != sbom.Generator {
			continue
		}
		if err := s.reg.DeleteManifest(ctx, repo, m.Digest.String()); err != nil && !errdefs.IsNotFound(err) {
			s.log.WarnContext(ctx, "delete the SBOM of a deleted manifest", "repository", repo, "sbom", m.Digest, "err", err)
		}
	}
}

// resolve returns the manifest reference names in repo, without counting
// a pull.
func (s *Service) resolve(ctx context.Context, repo, reference string) (*meta.Repository, *meta.Manifest, error) {
	if err := ref.ValidRepository(repo); err != nil {
		return nil, nil, err
	}
	tag, dgst, err := ref.ParseReference(reference)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.store.GetRepository(ctx, repo)
	if err != nil {
		return nil, nil, err
	}
	var m *meta.Manifest
	if tag != "" {
		m, err = s.store.GetTaggedManifest(ctx, r.ID, tag, false)
	} else {
		m, err = s.store.GetManifest(ctx, r.ID, dgst, false)
	}
	if err != nil {
		return nil, nil, err
	}
	return r, m, nil
}

// Scan queues a scan of repo's reference now, even when it was scanned
// before, and returns the report as it stands.
func (s *Service) Scan(ctx context.Context, repo, reference string) (*Report, error) {
	_, m, err := s.resolve(ctx, repo, reference)
	if err != nil {
		return nil, err
	}
	if _, err := s.scans.QueueScans(ctx, []meta.ScanRequest{{Digest: m.Digest, Repository: repo}}, true, s.now()); err != nil {
		return nil, fmt.Errorf("queue scan of %s@%s: %w", repo, m.Digest, err)
	}
	s.metrics.queued.Inc()
	s.Kick()
	return s.report(ctx, repo, m)
}

// Report returns the report of repo's reference: its scan state, the
// latest result, which findings allowlists exempt and the gate's verdict.
func (s *Service) Report(ctx context.Context, repo, reference string) (*Report, error) {
	_, m, err := s.resolve(ctx, repo, reference)
	if err != nil {
		return nil, err
	}
	return s.report(ctx, repo, m)
}

func (s *Service) report(ctx context.Context, repo string, m *meta.Manifest) (*Report, error) {
	out := &Report{Repository: repo, Digest: m.Digest}
	st, err := s.scans.GetScanReport(ctx, m.Digest, false)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		out.State = st
		if st.FinishedAt.IsZero() || st.Status == meta.ScanUnsupported {
			break
		}
		if out.Result, err = s.result(ctx, st); err != nil && !errdefs.IsNotFound(err) {
			return nil, err
		}
	}
	if out.DataGeneration, err = s.vulns.VulnGeneration(ctx); err != nil {
		return nil, err
	}
	if out.DataUpdatedAt, err = s.dataUpdatedAt(ctx); err != nil {
		return nil, err
	}
	out.DataStale = out.DataUpdatedAt.IsZero() || s.now().Sub(out.DataUpdatedAt) > s.cfg.MaxDBAge
	if out.Result != nil {
		rules, err := s.policies.rules(ctx, s, access.ProjectOf(repo))
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, err
		}
		out.Allowlisted = rules.allowlisted(out.Result.Vulnerabilities, s.now())
	}
	out.Gate = s.verdict(ctx, repo, m, false)
	return out, nil
}

// dataUpdatedAt is the newest record's modification time over every
// source.
func (s *Service) dataUpdatedAt(ctx context.Context) (time.Time, error) {
	srcs, err := s.vulns.VulnSources(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var newest time.Time
	for _, src := range srcs {
		if src.NewestModified.After(newest) {
			newest = src.NewestModified
		}
	}
	return newest, nil
}

// SBOM returns the SBOM of repo's reference in format, rebuilt from the
// stored inventory (byte for byte what the referrer holds), and its media
// type. ErrNotFound when the artifact has no finished built-in scan.
func (s *Service) SBOM(ctx context.Context, repo, reference, format string) ([]byte, string, error) {
	_, m, err := s.resolve(ctx, repo, reference)
	if err != nil {
		return nil, "", err
	}
	st, err := s.scans.GetScanReport(ctx, m.Digest, true)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, "", errdefs.NotFound("%s@%s has not been scanned", repo, m.Digest)
		}
		return nil, "", err
	}
	if len(st.Inventory) == 0 {
		return nil, "", errdefs.NotFound("%s@%s has no package inventory (status %s, scanner %q)", repo, m.Digest, st.Status, st.Scanner)
	}
	inv, err := decodeInventory(st.Inventory)
	if err != nil {
		return nil, "", err
	}
	in := s.sbomInput(repo, m, inv)
	switch format {
	case FormatCycloneDX, "":
		doc, err := sbom.CycloneDX(in)
		return doc, sbom.MediaTypeCycloneDX, err
	case FormatSPDX:
		doc, err := sbom.SPDX(in)
		return doc, sbom.MediaTypeSPDX, err
	}
	return nil, "", errdefs.Invalid("sbom format %q is not cyclonedx or spdx", format)
}

// Invalidate forgets the cached scan policy and allowlists of project (and
// the system-wide allowlist), after a change through the API.
func (s *Service) Invalidate(project string) { s.policies.invalidate(project) }
