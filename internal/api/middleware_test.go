package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/errcode"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// logBuffer collects JSON log records from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns every record logged so far.
func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// find returns the records whose msg is msg.
func find(recs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// harness is next wrapped by api.Handler and served on 127.0.0.1.
type harness struct {
	srv  *httptest.Server
	logs *logBuffer
	reg  *prometheus.Registry
}

func newHarness(t *testing.T, next http.Handler) *harness {
	t.Helper()
	h := &harness{logs: &logBuffer{}, reg: prometheus.NewRegistry()}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Silence net/http's own log of the handler panics provoked here.
	h.srv = httptest.NewUnstartedServer(api.Handler(next, log, api.NewMetrics(h.reg)))
	h.srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

// get sends a request and reads the whole response.
func (h *harness) do(t *testing.T, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, b
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestRequestID(t *testing.T) {
	h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.SetRoute(r.Context(), "echo", "some/repo")
		api.Logger(r.Context()).InfoContext(r.Context(), "handled")
	}))
	long := strings.Repeat("x", 129)
	tests := []struct {
		label, sent string
		echoed      bool
	}{
		{"generated when absent", "", false},
		{"echoed", "client-chosen-id-42", true},
		{"echoed at 128 bytes", strings.Repeat("y", 128), true},
		{"replaced when too long", long, false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			var hdr []string
			if tt.sent != "" {
				hdr = []string{"X-Request-Id", tt.sent}
			}
			resp, _ := h.do(t, "GET", "/x", nil, hdr...)
			got := resp.Header.Get("X-Request-Id")
			switch {
			case tt.echoed && got != tt.sent:
				t.Errorf("X-Request-Id = %q, want the client's %q", got, tt.sent)
			case !tt.echoed && !generatedID.MatchString(got):
				t.Errorf("X-Request-Id = %q, want a generated 24-hex-digit id", got)
			}
			if seen[got] {
				t.Errorf("id %q used twice", got)
			}
			seen[got] = true
			// Both the handler's log and the access log carry the id.
			recs := h.logs.records(t)
			var handled, access int
			for _, r := range recs {
				if r["request_id"] != got {
					continue
				}
				switch r["msg"] {
				case "handled":
					handled++
				case "request":
					access++
					if r["route"] != "echo" || r["repository"] != "some/repo" || r["status"] != float64(200) {
						t.Errorf("access log %v lacks route, repository or status", r)
					}
				}
			}
			if handled != 1 || access != 1 {
				t.Errorf("request %s logged %d handler and %d access records, want 1 and 1", got, handled, access)
			}
		})
	}
}

func TestRecoverPanic(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) {
		panic("boom: cannot open /var/lib/berth/secret.db")
	})
	mux.HandleFunc("/panic-error", func(http.ResponseWriter, *http.Request) {
		panic(errors.New("password=hunter2 rejected"))
	})
	mux.HandleFunc("/panic-late", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		panic("after the header")
	})
	mux.HandleFunc("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "fine") })
	h := newHarness(t, mux)

	for _, path := range []string{"/panic", "/panic-error"} {
		t.Run(path, func(t *testing.T) {
			resp, body := h.do(t, "GET", path, nil)
			if resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500", resp.StatusCode)
			}
			want := `{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}`
			if diff := cmp.Diff(want, string(body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			// The server keeps serving.
			resp, body = h.do(t, "GET", "/ok", nil)
			if resp.StatusCode != http.StatusOK || string(body) != "fine" {
				t.Errorf("after a panic: %d %q", resp.StatusCode, body)
			}
		})
	}
	t.Run("after the header was sent", func(t *testing.T) {
		resp, body := h.do(t, "GET", "/panic-late", nil)
		if resp.StatusCode != http.StatusOK || string(body) != "partial" {
			t.Errorf("got %d %q; want the 200 already sent, with no error envelope appended", resp.StatusCode, body)
		}
	})
	t.Run("ErrAbortHandler aborts the response", func(t *testing.T) {
		req, _ := http.NewRequest("GET", h.srv.URL+"/abort", nil)
		resp, err := h.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got a response (%d), want the connection aborted", resp.StatusCode)
		}
		if resp, body := h.do(t, "GET", "/ok", nil); resp.StatusCode != http.StatusOK || string(body) != "fine" {
			t.Errorf("after an abort: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("logged with the panic value", func(t *testing.T) {
		panics := find(h.logs.records(t), "panic serving request")
		if len(panics) != 3 {
			t.Fatalf("%d panic records, want 3", len(panics))
		}
		if v, _ := panics[0]["panic"].(string); !strings.Contains(v, "boom") {
			t.Errorf("panic record %v lacks the panic value", panics[0])
		}
		if s, _ := panics[0]["stack"].(string); !strings.Contains(s, "middleware_test.go") {
			t.Errorf("panic record lacks the stack")
		}
	})
	t.Run("in-flight gauge back to zero", func(t *testing.T) {
		if got := counter(t, h.reg, "berth_http_requests_in_flight", nil); got != 0 {
			t.Errorf("requests in flight = %v after every request ended", got)
		}
	})
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	secret := "open /var/lib/berth/berth.db: disk I/O error at 0xdeadbeef"
	h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errcode.Write(w, r, fmt.Errorf("put manifest: %w", errors.New(secret)))
	}))
	for _, m := range []string{"GET", "PUT", "HEAD"} {
		resp, body := h.do(t, m, "/x", strings.NewReader("body"))
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", m, resp.StatusCode)
		}
		if bytes.Contains(body, []byte("deadbeef")) || bytes.Contains(body, []byte("/var/lib")) {
			t.Errorf("%s: body leaks the cause: %s", m, body)
		}
		for k, vs := range resp.Header {
			if strings.Contains(strings.Join(vs, " "), "deadbeef") {
				t.Errorf("%s: header %s leaks the cause", m, k)
			}
		}
	}
}

// TestStatusWriterKeepsAbilities checks that the writer handlers get still
// offers io.ReaderFrom (the sendfile path), flushing and the response
// controller's deadlines, and that bytes copied through it are exact.
func TestStatusWriterKeepsAbilities(t *testing.T) {
	data := make([]byte, 8<<20+123)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var abilities sync.Map
	h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.SetRoute(r.Context(), "file", "")
		_, isRF := w.(io.ReaderFrom)
		_, isFlusher := w.(http.Flusher)
		rc := http.NewResponseController(w)
		abilities.Store("ReaderFrom", isRF)
		abilities.Store("Flusher", isFlusher)
		abilities.Store("SetWriteDeadline", rc.SetWriteDeadline(time.Now().Add(time.Minute)) == nil)
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, _ = io.Copy(w, f)
		abilities.Store("Flush", rc.Flush() == nil)
	}))
	resp, body := h.do(t, "GET", "/file", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if sha256.Sum256(body) != sha256.Sum256(data) {
		t.Errorf("body: %d bytes, want %d; contents differ", len(body), len(data))
	}
	for _, name := range []string{"ReaderFrom", "Flusher", "SetWriteDeadline", "Flush"} {
		if v, _ := abilities.Load(name); v != true {
			t.Errorf("the wrapped writer lost %s", name)
		}
	}
	if got := counter(t, h.reg, "berth_http_response_bytes_total", map[string]string{"route": "file"}); got != float64(len(data)) {
		t.Errorf("response bytes counted %v, want %d (ReadFrom must count too)", got, len(data))
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/created":
			api.SetRoute(r.Context(), "things", "a/b")
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
		case "/silent":
			api.SetRoute(r.Context(), "silent", "")
		default:
			http.NotFound(w, r)
		}
	}))
	for range 3 {
		h.do(t, "PUT", "/created", strings.NewReader("12345"))
	}
	h.do(t, "GET", "/silent", nil)
	h.do(t, "GET", "/nowhere", nil)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"berth_http_requests_total", map[string]string{"route": "things", "method": "PUT", "code": "201"}, 3},
		{"berth_http_requests_total", map[string]string{"route": "silent", "method": "GET", "code": "200"}, 1},
		{"berth_http_requests_total", map[string]string{"route": "unknown", "method": "GET", "code": "404"}, 1},
		{"berth_http_request_bytes_total", map[string]string{"route": "things"}, 15},
		{"berth_http_requests_in_flight", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name+fmt.Sprint(tt.labels), func(t *testing.T) {
			if got := counter(t, h.reg, tt.name, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
			}
		})
	}
	if n := histogramCount(t, h.reg, "berth_http_request_duration_seconds", map[string]string{"route": "things", "method": "PUT"}); n != 3 {
		t.Errorf("duration histogram counted %d requests, want 3", n)
	}
}

// metric returns the one metric of family name whose labels include
// labels, failing if there is none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return m
		}
	}
	t.Fatalf("no metric %s with labels %v", name, labels)
	return nil
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	m := metric(t, reg, name, labels)
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) uint64 {
	t.Helper()
	return metric(t, reg, name, labels).GetHistogram().GetSampleCount()
}
