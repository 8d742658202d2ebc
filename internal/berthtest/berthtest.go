// Package berthtest starts real Berth servers for tests, on 127.0.0.1 with a
// fresh data directory: in-process (Start) for handler and service tests, or
// as a separate `berth serve` process (Build, StartProcess) for end-to-end,
// client and crash tests.
package berthtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/server"
)

// Server is a running in-process server.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Addr is HOST:PORT.
	Addr string
	// Config is the configuration it runs with.
	Config config.Config
}

// Start runs a server in this process until the test ends. edit, if given,
// adjusts the configuration first (Addr and DataDir are already set).
func Start(t testing.TB, edit ...func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Log.Level = "warn"
	cfg.AdminPassword = AdminPassword
	for _, e := range edit {
		e(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("server stopped at start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server shutdown: %v", err)
		}
	})
	s := &Server{URL: "http://" + addr.String(), Addr: addr.String(), Config: cfg}
	WaitReady(t, s.URL, 10*time.Second)
	return s
}

// WaitReady polls url/readyz until it answers 200 or the timeout passes.
func WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server at %s not ready after %v (last error: %v)", url, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testWriter sends server logs to the test log, so they show on failure.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// RequireTools reports whether tests must fail (not skip) when an external
// tool is missing: set by scripts/test.sh.
func RequireTools() bool { return os.Getenv("BERTHTEST_REQUIRE_TOOLS") == "1" }
