// Package harbortest runs a Harbor pluggable scanner adapter on 127.0.0.1
// for tests. It implements the adapter API the way Trivy's adapter does:
// it checks the Authorization header and the Accept and Content-Type media
// types and versions, answers a report poll with 302 (and a Refresh-After
// when asked to) until the scan is "done", then with the canned report of
// the scanned digest, or with 500 for a digest set to fail, and 404 for an
// unknown scan id. It records every request, including the registry
// authorization each scan request carried, so that a test can check what
// Berth sent.
package harbortest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/scan/harbor"
)

// Options configures an Adapter. The zero value is an open Trivy-like
// adapter that finishes every scan at the first poll.
type Options struct {
	// Authorization is the Authorization header value the adapter
	// requires; "" accepts any request.
	Authorization string
	// Pending is how many polls of each scan's report answer 302 before
	// the report.
	Pending int
	// RefreshAfter is the Refresh-After header sent with each 302; ""
	// sends none, as Trivy's adapter does.
	RefreshAfter string
	// Scanner is the scanner the metadata and reports name; zero means
	// Trivy 0.50.1 by Aqua Security.
	Scanner harbor.Scanner
	// Capabilities replace the default: one vulnerability capability that
	// consumes OCI and Docker image manifests and produces
	// harbor.MediaTypeVulnReport. Report polls must Accept one of the
	// types these produce.
	Capabilities []harbor.Capability
}

// Request is one request the adapter received.
type Request struct {
	// Method and Path are the request's ("POST", "/api/v1/scan").
	Method, Path string
	// Accept, ContentType and Authorization are the request's headers.
	Accept, ContentType, Authorization string
	// Scan is the decoded body of a POST /scan that decoded, else nil. Its
	// Registry.Authorization is what the adapter would pull with.
	Scan *harbor.Request
}

// Adapter is a running fake adapter. Its methods are safe for concurrent
// use.
type Adapter struct {
	// URL is the adapter's base URL ("http://127.0.0.1:port"), what
	// harbor.New takes.
	URL string

	opts Options

	mu        sync.Mutex
	requests  []Request
	reports   map[string]*harbor.Report // by digest
	failures  map[string]string         // by digest
	scanFault *fault
	scans     map[string]*scanState // by scan id
	next      int
}

type fault struct {
	status  int
	message string
}

type scanState struct {
	req     harbor.Request
	pending int
	polls   int
}

// NewAdapter starts an adapter on 127.0.0.1 that stops when t ends.
func NewAdapter(t testing.TB, opts Options) *Adapter {
	t.Helper()
	if opts.Scanner == (harbor.Scanner{}) {
		opts.Scanner = harbor.Scanner{Name: "Trivy", Vendor: "Aqua Security", Version: "0.50.1"}
	}
	if opts.Capabilities == nil {
		opts.Capabilities = []harbor.Capability{{
			Type:              "vulnerability",
			ConsumesMIMETypes: []string{harbor.MediaTypeOCIManifest, harbor.MediaTypeDockerManifest},
			ProducesMIMETypes: []string{harbor.MediaTypeVulnReport},
		}}
	}
	a := &Adapter{
		opts:     opts,
		reports:  map[string]*harbor.Report{},
		failures: map[string]string{},
		scans:    map[string]*scanState{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/metadata", a.metadata)
	mux.HandleFunc("POST /api/v1/scan", a.scan)
	mux.HandleFunc("GET /api/v1/scan/{id}/report", a.report)
	srv := httptest.NewServer(a.record(mux))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// SetReport makes scans of digest end with r (its artifact is filled in
// from the scan request when empty). Scans of a digest with no report set
// end with a report without vulnerabilities.
func (a *Adapter) SetReport(digest string, r *harbor.Report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reports[digest] = r
	delete(a.failures, digest)
}

// SetFailure makes scans of digest fail: their report answers 500 with
// message.
func (a *Adapter) SetFailure(digest, message string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failures[digest] = message
	delete(a.reports, digest)
}

// FailScans makes every POST /scan answer status with message (400, 422,
// 500, …); status 0 accepts scans again.
func (a *Adapter) FailScans(status int, message string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if status == 0 {
		a.scanFault = nil
		return
	}
	a.scanFault = &fault{status, message}
}

// Requests returns the requests received so far, oldest first.
func (a *Adapter) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

// Scans returns the scan requests accepted so far, oldest first.
func (a *Adapter) Scans() []harbor.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]harbor.Request, 0, len(a.scans))
	for i := 1; i <= a.next; i++ {
		if s, ok := a.scans[scanID(i)]; ok {
			out = append(out, s.req)
		}
	}
	return out
}

// Polls returns how many times the report of scan id was asked for with
// an acceptable request.
func (a *Adapter) Polls(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.scans[id]; ok {
		return s.polls
	}
	return 0
}

func scanID(n int) string { return fmt.Sprintf("scan-%04d", n) }

// record logs each request, then checks its Authorization.
func (a *Adapter) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := Request{
			Method:        r.Method,
			Path:          r.URL.Path,
			Accept:        r.Header.Get("Accept"),
			ContentType:   r.Header.Get("Content-Type"),
			Authorization: r.Header.Get("Authorization"),
		}
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/scan" {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				writeError(w, http.StatusBadRequest, "reading scan request: "+err.Error())
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var req harbor.Request
			if json.Unmarshal(body, &req) == nil {
				rec.Scan = &req
			}
		}
		a.mu.Lock()
		a.requests = append(a.requests, rec)
		a.mu.Unlock()
		if a.opts.Authorization != "" && rec.Authorization != a.opts.Authorization {
			writeError(w, http.StatusUnauthorized, "invalid or missing authorization")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *Adapter) metadata(w http.ResponseWriter, r *http.Request) {
	accept := r.Header.Get("Accept")
	if accept != "" && !isMediaType(accept, "application/vnd.scanner.adapter.metadata+json", "1.0", "1.1") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported media type "+accept)
		return
	}
	md := harbor.Metadata{
		Scanner:      a.opts.Scanner,
		Capabilities: a.opts.Capabilities,
		Properties: map[string]string{
			"harbor.scanner-adapter/scanner-type":                      "os-package-vulnerability",
			"harbor.scanner-adapter/vulnerability-database-updated-at": "2026-11-01T00:00:00Z",
		},
	}
	writeJSON(w, http.StatusOK, harbor.MediaTypeMetadata, md)
}

func (a *Adapter) scan(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !isMediaType(ct, "application/vnd.scanner.adapter.scan.request+json", "1.0", "1.1") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported content type "+ct)
		return
	}
	req := new(harbor.Request)
	if err := json.NewDecoder(r.Body).Decode(req); err != nil {
		writeError(w, http.StatusBadRequest, "unmarshalling scan request: "+err.Error())
		return
	}
	if msg := validate(req); msg != "" {
		writeError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	a.mu.Lock()
	if f := a.scanFault; f != nil {
		a.mu.Unlock()
		writeError(w, f.status, f.message)
		return
	}
	a.next++
	id := scanID(a.next)
	a.scans[id] = &scanState{req: *req, pending: a.opts.Pending}
	a.mu.Unlock()
	writeJSON(w, http.StatusAccepted, harbor.MediaTypeScanResponse, map[string]string{"id": id})
}

func validate(req *harbor.Request) string {
	switch {
	case req.Registry.URL == "":
		return "missing registry.url"
	case !strings.HasPrefix(req.Registry.URL, "http://") && !strings.HasPrefix(req.Registry.URL, "https://"):
		return "invalid registry.url"
	case req.Artifact.Repository == "":
		return "missing artifact.repository"
	case req.Artifact.Digest == "":
		return "missing artifact.digest"
	}
	return ""
}

func (a *Adapter) report(w http.ResponseWriter, r *http.Request) {
	accept := r.Header.Get("Accept")
	if !a.produces(accept) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported media type "+accept)
		return
	}
	a.mu.Lock()
	s, ok := a.scans[r.PathValue("id")]
	if !ok {
		a.mu.Unlock()
		writeError(w, http.StatusNotFound, "cannot find scan job: "+r.PathValue("id"))
		return
	}
	s.polls++
	if s.polls <= s.pending {
		a.mu.Unlock()
		w.Header().Set("Location", r.URL.String())
		if a.opts.RefreshAfter != "" {
			w.Header().Set("Refresh-After", a.opts.RefreshAfter)
		}
		w.WriteHeader(http.StatusFound)
		return
	}
	failure, failed := a.failures[s.req.Artifact.Digest]
	canned := a.reports[s.req.Artifact.Digest]
	a.mu.Unlock()
	if failed {
		writeError(w, http.StatusInternalServerError, failure)
		return
	}
	writeJSON(w, http.StatusOK, accept, a.fill(canned, s.req))
}

// fill returns a copy of r (an empty report when nil) with the parts a
// real adapter always sets filled in from the scan request.
func (a *Adapter) fill(r *harbor.Report, req harbor.Request) harbor.Report {
	var out harbor.Report
	if r != nil {
		out = *r
	}
	if out.Artifact == (harbor.Artifact{}) {
		out.Artifact = req.Artifact
	}
	if out.Scanner == (harbor.Scanner{}) {
		out.Scanner = a.opts.Scanner
	}
	if out.GeneratedAt.IsZero() {
		out.GeneratedAt = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	}
	if out.Vulnerabilities == nil {
		out.Vulnerabilities = []harbor.Vulnerability{}
	}
	if out.Severity == "" {
		out.Severity = worst(out.Vulnerabilities)
	}
	return out
}

var severityRank = map[string]int{"Unknown": 0, "Negligible": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5}

func worst(vs []harbor.Vulnerability) string {
	w := "Unknown"
	for _, v := range vs {
		if severityRank[v.Severity] > severityRank[w] {
			w = v.Severity
		}
	}
	return w
}

func (a *Adapter) produces(accept string) bool {
	if accept == "" {
		return false
	}
	for _, c := range a.opts.Capabilities {
		for _, p := range c.ProducesMIMETypes {
			if harbor.SameMediaType(p, accept) {
				return true
			}
		}
	}
	return false
}

// isMediaType reports whether v is mediaType with one of versions.
func isMediaType(v, mediaType string, versions ...string) bool {
	t, params, err := mime.ParseMediaType(v)
	if err != nil || t != mediaType {
		return false
	}
	for _, ver := range versions {
		if params["version"] == ver {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, harbor.MediaTypeError, map[string]any{"error": map[string]string{"message": message}})
}
