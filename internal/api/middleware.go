// Package api holds the HTTP plumbing every Berth endpoint shares: a request
// id and a request-scoped slog.Logger in the context, panic recovery, access
// logs, Prometheus metrics per route, and a response writer that counts bytes
// without hiding the server's sendfile path.
//
// Endpoint packages (api/oci, later api/admin) name the route of each request
// with SetRoute so metrics and logs carry it.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/api/errcode"
)

type ctxKey int

const (
	loggerKey ctxKey = iota
	infoKey
)

// Logger returns the request-scoped logger in ctx, or slog.Default.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// WithLogger returns ctx carrying l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey, l)
}

// requestInfo is filled in by handlers while the request runs.
type requestInfo struct {
	route string
	repo  string
}

// SetRoute names the route (a fixed, low-cardinality label such as
// "manifest") and repository of the request in ctx, for metrics and logs.
func SetRoute(ctx context.Context, route, repo string) {
	if ri, ok := ctx.Value(infoKey).(*requestInfo); ok {
		ri.route, ri.repo = route, repo
	}
}

// Handler wraps next with request ids, logging, recovery and metrics.
func Handler(next http.Handler, log *slog.Logger, m *Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			id = newRequestID()
		}
		ri := &requestInfo{route: "unknown"}
		rl := log.With("request_id", id)
		ctx := context.WithValue(WithLogger(r.Context(), rl), infoKey, ri)
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Request-Id", id)
		body := &countingBody{ReadCloser: r.Body}
		r = r.WithContext(ctx)
		r.Body = body
		if m != nil {
			m.inFlight.Inc()
			defer m.inFlight.Dec()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				rl.ErrorContext(ctx, "panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					errcode.Write(sw, r, fmt.Errorf("panic: %v", p))
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			if m != nil {
				m.observe(ri.route, r.Method, status, elapsed, body.n, sw.bytes)
			}
			level := slog.LevelDebug
			if status >= 500 {
				level = slog.LevelWarn
			}
			rl.Log(ctx, level, "request", "method", r.Method, "path", r.URL.Path, "route", ri.route,
				"repository", ri.repo, "status", status, "duration", elapsed, "bytes_in", body.n, "bytes_out", sw.bytes,
				"remote", r.RemoteAddr)
		}()
		next.ServeHTTP(sw, r)
	})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records the status and bytes written. It implements
// io.ReaderFrom by delegating, so a blob served from an *os.File still goes
// out through sendfile.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom lets io.Copy reach the server's own ReadFrom (sendfile).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := io.Copy(w.ResponseWriter, r)
	w.bytes += n
	return n, err
}

// Flush forwards to the underlying writer when it can flush.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts request body bytes read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// statusLabel keeps the status label set small and stable.
func statusLabel(code int) string { return strconv.Itoa(code) }
