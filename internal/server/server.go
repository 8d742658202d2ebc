// Package server wires Berth together from a Config: it opens the metadata
// and blob stores, builds the registry service, the job queue and the HTTP
// handlers, and runs them until the context ends, then shuts down
// gracefully (in-flight requests finish, jobs stop, stores close).
//
// Each part is built by one small function that says what it needs.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/authn"
	"github.com/berth-registry/berth/internal/api/oci"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scanner"
	vulnsync "github.com/berth-registry/berth/internal/vuln/sync"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is a configured, not yet running, Berth server.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	meta    meta.Store
	blobs   blob.Store
	backend *Backend
	svc     *registry.Service
	access  *accessParts
	queue   *jobs.Queue
	scanner *scanner.Service
	// vulnSync imports vulnerability data from scan.sync_url/artifact.
	vulnSync *vulnsync.Syncer
	http     *http.Server
	ready    atomic.Bool
	// bound is the address Run listens on, once it does.
	bound atomic.Pointer[string]
}

// listenAddr is the address the server listens on: the bound one once
// Run has started, else the configured one.
func (s *Server) listenAddr() string {
	if a := s.bound.Load(); a != nil {
		return *a
	}
	return s.cfg.Addr
}

// New builds a Server from cfg. It opens (and migrates) the stores, so it
// fails early with a clear error when a backend is unusable.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.closeStores()
		}
	}()
	if s.backend, err = OpenBackend(ctx, cfg, log); err != nil {
		return nil, err
	}
	s.meta, s.blobs = s.backend.Meta, s.backend.Blobs
	s.svc = newRegistry(cfg, s.meta, s.blobs, log)
	if s.access, err = newAccess(ctx, cfg, s.meta, log); err != nil {
		return nil, err
	}
	if s.scanner, err = newScanner(cfg, s.meta, s.svc, s.access.tokens, s.listenAddr, log); err != nil {
		return nil, err
	}
	if s.vulnSync, err = newVulnSync(cfg, s.meta, s.svc, log); err != nil {
		return nil, err
	}
	if s.scanner != nil {
		// Only a non-nil service: a nil *scanner.Service in the interface
		// would not read as "no scanner".
		s.access.scanner = s.scanner
	}
	s.access.promoter = s.svc
	s.access.retention = newRetention(cfg, s.meta, log)
	if s.queue, err = s.backend.NewQueue(ctx, s.tasks(), log); err != nil {
		return nil, err
	}
	if s.http, err = s.newHTTPServer(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// InitialAdminPassword returns the password New generated for the "admin"
// account it created on an empty store, to be shown once; "" when it
// created none or the password came from the configuration.
func (s *Server) InitialAdminPassword() string { return s.access.adminPassword }

func newRegistry(cfg config.Config, m meta.Store, b blob.Store, log *slog.Logger) *registry.Service {
	return registry.New(m, b, registry.Options{
		UploadExpiry:     cfg.Uploads.ExpireAfter,
		BlobLease:        cfg.Uploads.BlobLease,
		GCGrace:          cfg.GC.Grace,
		MaxManifestBytes: cfg.HTTP.MaxManifestBytes,
		MaxBlobBytes:     cfg.HTTP.MaxBlobBytes,
		CanMountFrom:     authn.CanMountFrom,
		Logger:           log.With("component", "registry"),
	})
}

// tasks are the periodic background jobs.
func (s *Server) tasks() []jobs.Periodic {
	return append(append(append(s.gcTasks(), s.retentionTasks()...), s.scanTasks()...), jobs.Periodic{
		Name:     "expire-uploads",
		Interval: s.cfg.Uploads.ExpiryInterval,
		Run: func(ctx context.Context) error {
			n, err := expireUploads(ctx, s.svc)
			if n > 0 {
				s.log.InfoContext(ctx, "expired abandoned uploads", "count", n)
			}
			if err != nil {
				return err
			}
			n, err = s.svc.SweepOrphanUploads(ctx)
			if n > 0 {
				s.log.InfoContext(ctx, "removed upload data without a session", "count", n)
			}
			return err
		},
	})
}

// expireUploads removes every expired upload session, a batch at a time.
func expireUploads(ctx context.Context, svc *registry.Service) (int, error) {
	total := 0
	for {
		n, err := svc.ExpireUploads(ctx, 500)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// newHTTPServer builds the handler tree: /v2/ (the OCI API), the token
// endpoint, OIDC sign-in and the admin API, /metrics, /healthz and /readyz,
// all behind the shared middleware.
func (s *Server) newHTTPServer(ctx context.Context) (*http.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newStoreCollector(s.meta, 10*time.Second), gcMetrics, retentionMetrics)
	reg.MustRegister(registry.QuotaMetrics())
	reg.MustRegister(scanner.Collectors()...)
	metrics := api.NewMetrics(reg)

	mux := http.NewServeMux()
	v2opts := oci.Options{
		MaxPageSize: s.cfg.HTTP.MaxPageSize,
		Guard:       s.access.guard,
		Audit:       s.access.audit.Record,
	}
	if s.scanner != nil {
		v2opts.PullGate = s.scanner.GateFor
	}
	v2 := oci.New(s.svc, v2opts)
	if err := s.access.routes(ctx, s.cfg, mux, s.log); err != nil {
		return nil, err
	}
	if s.cfg.Metrics.Enabled {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		api.SetRoute(r.Context(), "healthz", "")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)

	// /v2 bypasses the mux: ServeMux cleans paths and redirects
	// /v2/a/../b/... to /v2/b/..., and a 307 keeps the method and body, so a
	// push would land in another repository. The OCI handler rejects such
	// names instead (NAME_INVALID).
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
			v2.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return &http.Server{
		Handler:           api.Handler(root, s.log, metrics),
		ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}, nil
}

// readyz is 200 once serving and while the metadata store answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	api.SetRoute(r.Context(), "readyz", "")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if !s.ready.Load() {
		http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
		return
	}
	if err := s.meta.Ping(ctx); err != nil {
		http.Error(w, "metadata store unavailable", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// Run listens on the configured address and serves until ctx ends, then
// shuts down gracefully. started, if not nil, receives the bound address.
func (s *Server) Run(ctx context.Context, started func(addr net.Addr)) error {
	defer s.closeStores()
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	bound := ln.Addr().String()
	s.bound.Store(&bound)
	// The queue stops when shutdown asks it to, after in-flight requests,
	// not the moment the signal cancels ctx.
	if err := s.queue.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return err
	}
	s.watchStaleRuns()
	// Access control's background work (key rotation, the audit writer)
	// stops after the HTTP server, so the last requests' events are written.
	defer s.access.run(context.WithoutCancel(ctx))()
	defer s.startPullFlusher(ctx)()
	defer s.startScanners(ctx)()
	if s.cfg.DebugAddr != "" {
		stop, err := serveDebug(s.cfg.DebugAddr, s.log)
		if err != nil {
			ln.Close()
			_ = s.queue.Stop(ctx)
			return err
		}
		defer stop()
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLS.Enabled() {
			errc <- s.http.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			errc <- s.http.Serve(ln)
		}
	}()
	s.ready.Store(true)
	if started != nil {
		started(ln.Addr())
	}
	select {
	case err := <-errc:
		s.ready.Store(false)
		_ = s.queue.Stop(context.WithoutCancel(ctx))
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(errc)
}

// shutdown stops accepting requests, lets in-flight ones finish within the
// shutdown timeout, then stops the job queue.
func (s *Server) shutdown(errc <-chan error) error {
	s.ready.Store(false)
	s.log.Info("shutting down", "timeout", s.cfg.HTTP.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("graceful shutdown: %w", err))
		_ = s.http.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	if err := s.queue.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	s.stopRetention()
	return errors.Join(errs...)
}

func (s *Server) closeStores() {
	if s.backend != nil {
		if err := s.backend.Close(); err != nil {
			s.log.Warn("close stores", "err", err)
		}
		s.backend = nil
	}
}
