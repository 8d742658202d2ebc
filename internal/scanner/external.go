package scanner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/harbor"
	"github.com/opencontainers/go-digest"
)

// metadataTTL is how long the adapter's metadata (its name and version) is
// trusted before it is asked again.
const metadataTTL = 5 * time.Minute

// HarborConfig configures an External scanner that calls a Harbor
// pluggable scanner adapter.
type HarborConfig struct {
	// Client talks to the adapter.
	Client *harbor.Client
	// RegistryURL returns this registry's URL as the adapter reaches it
	// (asked at each scan: a server listening on port 0 knows it only once
	// it runs).
	RegistryURL func() string
	// Authorize returns the Authorization header value the adapter pulls
	// repo with (a short-lived pull token for ExternalScannerName).
	Authorize func(ctx context.Context, repo string) (string, error)
	// MaxWait bounds the wait for one report; default 10 minutes.
	MaxWait time.Duration
}

// Harbor is an External scanner behind the Harbor pluggable scanner
// adapter API.
type Harbor struct {
	cfg  HarborConfig
	mu   sync.Mutex
	meta *harbor.Metadata
	at   time.Time
}

// NewHarbor returns an External scanner on cfg.
func NewHarbor(cfg HarborConfig) *Harbor {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 10 * time.Minute
	}
	return &Harbor{cfg: cfg}
}

func (h *Harbor) metadata(ctx context.Context) (*harbor.Metadata, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.meta != nil && time.Since(h.at) < metadataTTL {
		return h.meta, nil
	}
	m, err := h.cfg.Client.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("scanner adapter metadata: %w", err)
	}
	h.meta, h.at = m, time.Now()
	return m, nil
}

// Name implements External: "harbor:<scanner>/<version>".
func (h *Harbor) Name(ctx context.Context) (string, error) {
	m, err := h.metadata(ctx)
	if err != nil {
		return "", err
	}
	return m.Name(), nil
}

// Scan implements External: it asks the adapter to scan repo@dgst with a
// pull token for just that repository, waits for the report and converts
// it. A media type the adapter does not read (an index) is
// errdefs.ErrUnsupported.
func (h *Harbor) Scan(ctx context.Context, repo string, dgst digest.Digest, mediaType string) (*Result, error) {
	m, err := h.metadata(ctx)
	if err != nil {
		return nil, err
	}
	if !m.Consumes(mediaType) {
		return nil, errdefs.Unsupported("the scanner adapter %s does not read %s", m.Name(), mediaType)
	}
	authz, err := h.cfg.Authorize(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("pull credential for the scanner adapter: %w", err)
	}
	id, err := h.cfg.Client.Scan(ctx, harbor.Request{
		Registry: harbor.Registry{URL: h.cfg.RegistryURL(), Authorization: authz},
		Artifact: harbor.Artifact{Repository: repo, Digest: dgst.String(), MimeType: mediaType},
	})
	if err != nil {
		return nil, err
	}
	rep, err := h.cfg.Client.Wait(ctx, id, h.cfg.MaxWait)
	if err != nil {
		return nil, err
	}
	res := &Result{Platforms: []Platform{{Manifest: dgst.String()}}, Vulnerabilities: rep.Findings(), Findings: []scan.Finding{}}
	SortVulnerabilities(res.Vulnerabilities)
	return res, nil
}
