package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan/harbor"
	"github.com/berth-registry/berth/internal/scanner"
	vulnsync "github.com/berth-registry/berth/internal/vuln/sync"
)

// Scanning's periodic work: re-matching is frequent so that new
// vulnerability data (imported by `berth vulndb import` in another process,
// or synced) reaches stored reports within a minute; the sweep for
// unscanned artifacts, rescans and orphaned reports is cheaper to do less
// often.
const (
	scanRematchInterval  = 30 * time.Second
	scanMaintainInterval = 10 * time.Minute
)

// newScanner builds the scanning service and hooks it into pushes, or
// returns nil (scan routes answer 503, the gate lets everything through)
// when the store cannot keep scan reports.
func newScanner(cfg config.Config, m meta.Store, reg *registry.Service, tokens *auth.TokenService, addr func() string, log *slog.Logger) (*scanner.Service, error) {
	var ext scanner.External
	if cfg.Scan.Scanner == "harbor" {
		var err error
		if ext, err = newHarborScanner(cfg, tokens, addr, log); err != nil {
			return nil, err
		}
	}
	svc, err := scanner.New(scanner.Config{
		Store: m, Registry: reg, External: ext, Workers: cfg.Scan.Workers, MaxDBAge: cfg.Scan.MaxDBAge,
		MaxImageSize: cfg.Scan.MaxImageSize, ToolVersion: toolVersion(), Namespace: cfg.ExternalURL,
		PushSBOMs: true, Rescan: cfg.Scan.Rescan, Logger: log.With("component", "scanner"),
	})
	if err != nil {
		log.Warn("scanning is off", "err", err)
		return nil, nil
	}
	if cfg.Scan.Enabled {
		reg.OnManifestPut(svc.OnPush)
	}
	reg.OnManifestDelete(svc.OnDelete)
	return svc, nil
}

// newHarborScanner builds the external scanner of scan.scanner: harbor.
// The adapter pulls with a registry token for ExternalScannerName that
// grants pull on the one repository it scans, for the token TTL; those
// pulls skip the vulnerability gate.
func newHarborScanner(cfg config.Config, tokens *auth.TokenService, addr func() string, log *slog.Logger) (scanner.External, error) {
	client, err := harbor.New(cfg.Scan.HarborURL, harbor.Options{
		Authorization: cfg.Scan.HarborAuth, Logger: log.With("component", "scanner-adapter"),
	})
	if err != nil {
		return nil, fmt.Errorf("scan.harbor_url: %w", err)
	}
	registryURL := func() string {
		u := cfg.Scan.RegistryURL
		if u == "" {
			u = cfg.ExternalURL
		}
		if u == "" {
			scheme := "http://"
			if cfg.TLS.Enabled() {
				scheme = "https://"
			}
			u = scheme + addr()
		}
		return strings.TrimSuffix(u, "/")
	}
	return scanner.NewHarbor(scanner.HarborConfig{
		Client: client, RegistryURL: registryURL,
		Authorize: func(ctx context.Context, repo string) (string, error) {
			tok, _, _, err := tokens.Issue(ctx, scanner.ExternalScannerName, access.RobotKind,
				[]auth.ResourceActions{{Type: "repository", Name: repo, Actions: []string{"pull"}}})
			if err != nil {
				return "", err
			}
			return "Bearer " + tok, nil
		},
	}), nil
}

// scanTasks are the periodic scanning jobs, none when scanning is off in
// this process.
func (s *Server) scanTasks() []jobs.Periodic {
	if s.scanner == nil || !s.cfg.Scan.Enabled {
		return nil
	}
	svc := s.scanner
	tasks := []jobs.Periodic{
		{Name: "scan-rematch", Interval: scanRematchInterval, Timeout: 30 * time.Minute, Run: func(ctx context.Context) error {
			_, err := svc.Rematch(ctx, nil)
			return err
		}},
		{Name: "scan-maintain", Interval: scanMaintainInterval, Timeout: time.Hour, Run: svc.Maintain},
	}
	if sync := s.vulnSync; sync != nil {
		tasks = append(tasks, jobs.Periodic{Name: "vulndb-sync", Interval: s.cfg.Scan.SyncInterval, Timeout: 2 * time.Hour,
			Run: func(ctx context.Context) error {
				res, err := sync.Sync(ctx)
				if res.Changed() {
					// Apply the new data now rather than at the next
					// re-match tick.
					if _, rerr := svc.Rematch(ctx, nil); rerr != nil {
						err = errors.Join(err, rerr)
					}
				}
				return err
			}})
	}
	return tasks
}

// newVulnSync builds the vulnerability data sync of scan.sync_url and
// scan.sync_artifact, nil when neither is set; a bad source is a startup
// error.
func newVulnSync(cfg config.Config, m meta.Store, reg *registry.Service, log *slog.Logger) (*vulnsync.Syncer, error) {
	if cfg.Scan.SyncURL == "" && cfg.Scan.SyncArtifact == "" {
		return nil, nil
	}
	vs, ok := meta.VulnOf(m)
	if !ok {
		return nil, errors.New("scan.sync_url/sync_artifact: the metadata store keeps no vulnerability data")
	}
	sync, err := vulnsync.New(vulnsync.Config{
		Store: vs, URL: cfg.Scan.SyncURL, Artifact: cfg.Scan.SyncArtifact, Registry: reg,
		Logger: log.With("component", "vulndb-sync"),
	})
	if err != nil {
		return nil, fmt.Errorf("vulnerability data sync: %w", err)
	}
	return sync, nil
}

// startScanners runs this process's scan workers until the returned stop
// is called (at shutdown, after the HTTP server stopped).
func (s *Server) startScanners(ctx context.Context) (stop func()) {
	if s.scanner == nil || !s.cfg.Scan.Enabled {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.scanner.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// toolVersion is the version SBOMs name Berth by: the main module's
// version from the build information ("(devel)" in a source build).
func toolVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}
