package scanner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/hygiene"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/layers"
	"github.com/berth-registry/berth/internal/scan/sbom"
	"github.com/berth-registry/berth/internal/scan/secrets"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// idlePoll is how often an idle worker looks for scans other processes
// queued (a push to this process wakes it at once).
const idlePoll = 2 * time.Second

// scannerPrincipal is who the scanner acts as: SBOM referrers are recorded
// as pushed by it.
var scannerPrincipal = access.Principal{Kind: access.System, Name: "berth-scanner"}

// Run works queued scans with Config.Workers workers until ctx ends, then
// waits for the scans in progress to stop (they are cut off and claimed
// again later).
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker(ctx)
		}()
	}
	wg.Wait()
}

func (s *Service) worker(ctx context.Context) {
	t := time.NewTicker(idlePoll)
	defer t.Stop()
	for ctx.Err() == nil {
		n, err := s.Work(ctx, 1)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "scan worker", "err", err)
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-t.C:
		}
	}
}

// Work claims up to n queued scans and runs them one after the other, and
// returns how many it ran. Run calls it; tests and the CLI may too.
func (s *Service) Work(ctx context.Context, n int) (int, error) {
	jobs, err := s.scans.ClaimScans(ctx, s.owner, n, s.cfg.Lease, s.now())
	if err != nil {
		return 0, fmt.Errorf("claim scans: %w", err)
	}
	var errs []error
	for _, j := range jobs {
		if err := s.runJob(ctx, j); err != nil {
			errs = append(errs, err)
		}
	}
	return len(jobs), errors.Join(errs...)
}

// runJob runs one claimed scan and stores its outcome.
func (s *Service) runJob(ctx context.Context, j meta.ScanJob) error {
	start := time.Now()
	log := s.log.With("repository", j.Repository, "digest", j.Digest, "attempt", j.Attempts)
	res := meta.ScanResult{Digest: j.Digest, Owner: s.owner}
	if j.Attempts > s.cfg.MaxAttempts {
		res.Status, res.Scanner = meta.ScanFailed, s.scannerName(ctx)
		res.Error = fmt.Sprintf("gave up after %d attempts that did not finish (each cut off or its process gone)", j.Attempts-1)
	} else {
		sctx, cancel := context.WithTimeout(ctx, max(s.cfg.Lease-time.Minute, s.cfg.Lease/2))
		err := s.scanOne(sctx, j, &res)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				// Shutting down: leave the claim to lapse, another
				// scanner (or this one after a restart) takes it over.
				return nil
			}
			res.Status, res.Error = meta.ScanFailed, err.Error()
			res.Inventory, res.Report = nil, nil
			res.Summary = meta.ScanSummary{}
		}
	}
	res.FinishedAt = s.now()
	if err := s.scans.FinishScan(context.WithoutCancel(ctx), res); err != nil {
		return fmt.Errorf("store scan of %s@%s: %w", j.Repository, j.Digest, err)
	}
	s.metrics.finished.WithLabelValues(res.Status).Inc()
	s.metrics.duration.Observe(time.Since(start).Seconds())
	switch res.Status {
	case meta.ScanFailed:
		log.WarnContext(ctx, "scan failed", "err", res.Error)
	case meta.ScanDone:
		log.InfoContext(ctx, "scanned", "scanner", res.Scanner, "critical", res.Summary.Critical, "high", res.Summary.High,
			"medium", res.Summary.Medium, "low", res.Summary.Low, "secrets", res.Summary.Secrets, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// Image kinds a scanner reads.
var (
	imageManifestTypes = map[string]bool{v1.MediaTypeImageManifest: true, "application/vnd.docker.distribution.manifest.v2+json": true}
	indexTypes         = map[string]bool{v1.MediaTypeImageIndex: true, "application/vnd.docker.distribution.manifest.list.v2+json": true}
	imageConfigTypes   = map[string]bool{v1.MediaTypeImageConfig: true, "application/vnd.docker.container.image.v1+json": true}
)

// Scannable reports whether m is an image or an index a scanner reads;
// anything else (signatures, SBOMs, Helm charts, other artifacts) is not,
// and the pull gate lets it through.
func Scannable(m *meta.Manifest) bool {
	if indexTypes[m.MediaType] {
		return m.ArtifactType == ""
	}
	return imageManifestTypes[m.MediaType] && imageConfigTypes[m.ArtifactType]
}

// scanOne scans j into res.
func (s *Service) scanOne(ctx context.Context, j meta.ScanJob, res *meta.ScanResult) error {
	repo, err := s.store.GetRepository(ctx, j.Repository)
	if err != nil {
		return fmt.Errorf("repository %s: %w", j.Repository, err)
	}
	m, err := s.store.GetManifest(ctx, repo.ID, j.Digest, false)
	if err != nil {
		return fmt.Errorf("manifest %s@%s: %w", j.Repository, j.Digest, err)
	}
	res.Scanner = s.scannerName(ctx)
	if !Scannable(m) {
		res.Status = meta.ScanUnsupported
		return nil
	}
	gen, err := s.vulns.VulnGeneration(ctx)
	if err != nil {
		return err
	}
	var result *Result
	if s.cfg.External != nil {
		if result, err = s.cfg.External.Scan(ctx, j.Repository, j.Digest, m.MediaType); err != nil {
			if errors.Is(err, errdefs.ErrUnsupported) {
				res.Status = meta.ScanUnsupported
				return nil
			}
			return err
		}
	} else {
		inv, err := s.readImage(ctx, repo, m)
		if err != nil {
			return err
		}
		if res.Inventory, err = encode(inv); err != nil {
			return err
		}
		if result, err = s.match(ctx, inv); err != nil {
			return err
		}
		if s.cfg.PushSBOMs {
			if err := s.pushSBOMs(ctx, j.Repository, m, inv); err != nil {
				// The scan stands; the SBOM stays downloadable from the API.
				s.log.WarnContext(ctx, "push SBOM referrers", "repository", j.Repository, "digest", j.Digest, "err", err)
			}
		}
	}
	if res.Report, err = encode(result); err != nil {
		return err
	}
	res.Status, res.Generation, res.Summary = meta.ScanDone, gen, summarize(result)
	return nil
}

// readImage flattens every platform of m and lists its packages, secrets
// and hygiene findings.
func (s *Service) readImage(ctx context.Context, repo *meta.Repository, m *meta.Manifest) (*storedInventory, error) {
	open := s.opener(repo)
	sec := secrets.New(secrets.Options{})
	desc := v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
	results, err := s.inv.ScanImage(ctx, open, desc, layers.Options{Visit: sec.Visit, TempDir: s.cfg.TempDir})
	if err != nil {
		return nil, err
	}
	tags, err := s.store.ListTagsOf(ctx, repo.ID, m.Digest)
	if err != nil {
		return nil, err
	}
	findings := sec.Findings()
	seen := map[string]bool{}
	for _, r := range results {
		for _, f := range hygiene.Check(hygiene.Input{User: r.Facts.User, Size: r.Facts.CompressedSize, Tags: tags}, hygiene.Options{MaxSize: s.cfg.MaxImageSize}) {
			if !seen[f.Rule] {
				seen[f.Rule] = true
				findings = append(findings, f)
			}
		}
	}
	return &storedInventory{Version: inventoryVersion, Results: results, Findings: findings, Created: m.PushedAt.UTC().Truncate(time.Second)}, nil
}

// opener reads manifests from the metadata store and other blobs from the
// blob store, as repository repo holds them.
func (s *Service) opener(repo *meta.Repository) layers.BlobOpener {
	return func(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error) {
		m, err := s.store.GetManifest(ctx, repo.ID, dgst, true)
		if err == nil {
			return io.NopCloser(bytes.NewReader(m.Content)), nil
		}
		if !errdefs.IsNotFound(err) {
			return nil, err
		}
		bc, err := s.reg.OpenBlob(ctx, repo.Name, dgst, false)
		if err != nil {
			return nil, err
		}
		return bc.Content, nil
	}
}

// match matches inv against the vulnerability data and builds the result.
func (s *Service) match(ctx context.Context, inv *storedInventory) (*Result, error) {
	pkgs := make([][]vuln.Package, len(inv.Results))
	for i, r := range inv.Results {
		pkgs[i] = r.Packages
	}
	found, err := s.matcher.MatchMany(ctx, pkgs)
	if err != nil {
		return nil, fmt.Errorf("match vulnerabilities: %w", err)
	}
	return buildResult(inv, found), nil
}

// buildResult joins the platforms of inv, their vulnerabilities (found[i]
// for platform i; each vulnerability of a package once) and the other
// findings.
func buildResult(inv *storedInventory, found [][]vuln.Finding) *Result {
	out := &Result{Vulnerabilities: []vuln.Finding{}, Findings: inv.Findings}
	if out.Findings == nil {
		out.Findings = []scan.Finding{}
	}
	type key struct{ id, eco, name, version string }
	seen := map[key]bool{}
	for i, r := range inv.Results {
		out.Platforms = append(out.Platforms, Platform{Manifest: r.Manifest, Platform: r.Platform, OS: osName(r.OS), Packages: len(r.Packages)})
		if i >= len(found) {
			continue
		}
		for _, f := range found[i] {
			k := key{f.ID, f.Package.Ecosystem, f.Package.Name, f.Package.Version}
			if !seen[k] {
				seen[k] = true
				out.Vulnerabilities = append(out.Vulnerabilities, f)
			}
		}
	}
	SortVulnerabilities(out.Vulnerabilities)
	return out
}

// SortVulnerabilities orders fs worst first, then by id and package.
func SortVulnerabilities(fs []vuln.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.CVSS != b.CVSS {
			return a.CVSS > b.CVSS
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Package.Name != b.Package.Name {
			return a.Package.Name < b.Package.Name
		}
		return a.Package.Version < b.Package.Version
	})
}

func osName(o inventory.OS) string {
	if o.PrettyName != "" {
		return o.PrettyName
	}
	return strings.TrimSpace(o.ID + " " + o.VersionID)
}

// summarize counts r's findings.
func summarize(r *Result) meta.ScanSummary {
	var sum meta.ScanSummary
	for _, f := range r.Vulnerabilities {
		switch f.Severity {
		case vuln.SeverityCritical:
			sum.Critical++
		case vuln.SeverityHigh:
			sum.High++
		case vuln.SeverityMedium:
			sum.Medium++
		case vuln.SeverityLow:
			sum.Low++
		default:
			sum.Unknown++
		}
		if f.FixedVersion != "" {
			sum.Fixable++
		}
		sum.Worst = max(sum.Worst, int(f.Severity))
	}
	for _, f := range r.Findings {
		switch f.Kind {
		case scan.KindSecret:
			sum.Secrets++
		case scan.KindHygiene:
			sum.Hygiene++
		}
	}
	return sum
}

// sbomInput describes m's SBOM from inv.
func (s *Service) sbomInput(repo string, m *meta.Manifest, inv *storedInventory) sbom.Input {
	return sbom.Input{
		Repository: repo, Subject: v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size},
		Results: inv.Results, Created: inv.Created, ToolVersion: s.cfg.ToolVersion, Namespace: s.cfg.Namespace,
	}
}

// pushSBOMs pushes the CycloneDX and SPDX SBOMs of m as its referrers in
// repo. The bytes depend only on the inventory and the manifest's push
// time, so a rescan that finds the same packages pushes nothing new.
func (s *Service) pushSBOMs(ctx context.Context, repo string, m *meta.Manifest, inv *storedInventory) error {
	ctx = access.WithPrincipal(ctx, scannerPrincipal)
	// A subject deleted while it was scanned gets no SBOM: nothing would
	// remove it (OnDelete ran already).
	r, err := s.store.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	if _, err := s.store.GetManifest(ctx, r.ID, m.Digest, false); err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	in := s.sbomInput(repo, m, inv)
	for _, f := range []struct {
		mediaType string
		build     func(sbom.Input) ([]byte, error)
	}{{sbom.MediaTypeCycloneDX, sbom.CycloneDX}, {sbom.MediaTypeSPDX, sbom.SPDX}} {
		doc, err := f.build(in)
		if err != nil {
			return err
		}
		art, err := sbom.Referrer(f.mediaType, doc, in.Subject, inv.Created)
		if err != nil {
			return err
		}
		for _, b := range art.Blobs {
			if _, err := s.reg.PutBlob(ctx, repo, b.Descriptor.Digest, bytes.NewReader(b.Content)); err != nil {
				return err
			}
		}
		if _, err := s.reg.PutManifest(ctx, registry.ManifestPut{
			Repository: repo, Reference: art.Descriptor.Digest.String(),
			ContentType: art.Descriptor.MediaType, Body: art.Manifest,
		}); err != nil {
			return err
		}
	}
	return nil
}
