// Package harbor is a client of the Harbor pluggable scanner adapter API
// v1.x (goharbor/pluggable-scanner-spec), the API that Trivy's and Clair's
// Harbor adapters serve. Berth uses it to have an external scanner scan an
// image it holds:
//
//	c, _ := harbor.New("http://trivy-adapter:8080", harbor.Options{Authorization: "Bearer …"})
//	md, err := c.Metadata(ctx)            // checks it scans images into vulnerability reports
//	id, err := c.Scan(ctx, harbor.Request{Registry: …, Artifact: …})
//	report, err := c.Wait(ctx, id, 10*time.Minute)
//	findings := report.Findings()
//
// The adapter pulls the artifact from the registry itself, with the
// Authorization value given in Request.Registry. Neither that value nor
// Options.Authorization is ever logged.
package harbor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
)

// Body size limits: a report of a large image runs to megabytes of
// descriptions; every other answer is small.
const (
	maxReportBody = 64 << 20
	maxOtherBody  = 1 << 20
)

// Options configures a Client. The zero value works.
type Options struct {
	// Authorization is the Authorization header value sent to the adapter
	// ("Bearer …", "Basic …"), "" for none. It is never logged.
	Authorization string
	// HTTPClient sends the requests; nil means a client with a one-minute
	// timeout. The Client uses a copy that does not follow redirects,
	// because an adapter answers a pending report with 302.
	HTTPClient *http.Client
	// Logger receives the client's logs (debug lines per call, a warning
	// for a malformed Refresh-After); nil discards them.
	Logger *slog.Logger
	// MinPoll and MaxPoll bound the interval Wait waits between polls,
	// whatever Refresh-After says; defaults 1s and 30s.
	MinPoll, MaxPoll time.Duration
	// DefaultPoll is the interval when the adapter sends no Refresh-After
	// (Trivy's adapter sends none); default 5s, then bounded as above.
	DefaultPoll time.Duration
}

// Client talks to one scanner adapter. It is safe for concurrent use.
type Client struct {
	base  string // scheme://host[/prefix]/api/v1
	auth  string
	http  *http.Client
	log   *slog.Logger
	opts  Options
	sleep func(context.Context, time.Duration) error

	mu         sync.Mutex
	reportType string // negotiated by Metadata
}

// New returns a client of the adapter at baseURL ("http://trivy:8080"; a
// trailing "/api/v1" is accepted too). It makes no request.
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errdefs.Invalid("scanner adapter URL %q: want http(s)://host[:port]", baseURL)
	}
	u.RawQuery, u.Fragment = "", ""
	base := strings.TrimSuffix(strings.TrimRight(u.String(), "/"), "/api/v1") + "/api/v1"

	hc := &http.Client{Timeout: time.Minute}
	if opts.HTTPClient != nil {
		copied := *opts.HTTPClient
		hc = &copied
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.MinPoll <= 0 {
		opts.MinPoll = time.Second
	}
	if opts.MaxPoll <= 0 {
		opts.MaxPoll = 30 * time.Second
	}
	if opts.MaxPoll < opts.MinPoll {
		opts.MaxPoll = opts.MinPoll
	}
	if opts.DefaultPoll <= 0 {
		opts.DefaultPoll = 5 * time.Second
	}
	return &Client{
		base:       base,
		auth:       opts.Authorization,
		http:       hc,
		log:        log.With("scanner_adapter", u.Host),
		opts:       opts,
		sleep:      sleepCtx,
		reportType: MediaTypeVulnReport,
	}, nil
}

// Metadata fetches the adapter's metadata and checks that it scans OCI or
// Docker image manifests into a vulnerability report this client reads
// (MediaTypeVulnReport, or MediaTypeVulnReportHarbor from older adapters);
// if it does not, the error is of class errdefs.ErrUnsupported and says
// what the adapter offers. The client remembers which report type to ask
// Report for, so call Metadata before the first scan.
func (c *Client) Metadata(ctx context.Context) (_ *Metadata, err error) {
	defer errdefs.Wrapf(&err, "scanner adapter metadata")
	resp, err := c.do(ctx, http.MethodGet, "/metadata", MediaTypeMetadata, "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp, "GET /metadata")
	}
	var md Metadata
	if err := decode(resp, maxOtherBody, &md); err != nil {
		return nil, err
	}
	rt := md.reportType()
	if rt == "" {
		return nil, errdefs.Unsupported("%s does not scan image manifests (%s or %s) into a vulnerability report (%s or %s): its capabilities are %s",
			md.Name(), MediaTypeOCIManifest, MediaTypeDockerManifest, MediaTypeVulnReport, MediaTypeVulnReportHarbor, describe(md.Capabilities))
	}
	c.mu.Lock()
	c.reportType = rt
	c.mu.Unlock()
	c.log.DebugContext(ctx, "scanner adapter metadata", "scanner", md.Name(), "report_type", rt)
	return &md, nil
}

// Scan asks the adapter to scan req.Artifact and returns the scan's id.
// A request missing a required field is refused here (errdefs.ErrInvalid);
// the adapter's 400 and 422 are ErrInvalid, 401 ErrUnauthenticated, 403
// ErrDenied, 501 ErrUnsupported and 5xx ErrUnavailable, each with the
// adapter's message.
func (c *Client) Scan(ctx context.Context, req Request) (id string, err error) {
	defer errdefs.Wrapf(&err, "scanner adapter: scan %s@%s", req.Artifact.Repository, req.Artifact.Digest)
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"registry.url", req.Registry.URL},
		{"artifact.repository", req.Artifact.Repository},
		{"artifact.digest", req.Artifact.Digest},
		{"artifact.mime_type", req.Artifact.MimeType},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return "", errdefs.Invalid("request lacks %s", strings.Join(missing, ", "))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("encode request: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/scan", MediaTypeScanResponse, MediaTypeScanRequest, body)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", statusError(resp, "POST /scan")
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := decode(resp, maxOtherBody, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", errdefs.Unavailable("adapter accepted the scan but returned no id")
	}
	c.log.DebugContext(ctx, "scan accepted", "id", out.ID, "repository", req.Artifact.Repository,
		"digest", req.Artifact.Digest, "registry", req.Registry)
	return out.ID, nil
}

// ErrScanFailed is in the chain of the error Report and Wait return when
// the adapter says the scan failed (HTTP 500 on the report); that error is
// also of class errdefs.ErrUnavailable and carries the adapter's message.
var ErrScanFailed = errors.New("scan failed")

// Report polls the report of scan id once. While the scan runs it returns
// done false and how long to wait before polling again: the adapter's
// Refresh-After, or Options.DefaultPoll when it sent none. When the scan is
// done it returns the report. An unknown id is errdefs.ErrNotFound;
// a failed scan is ErrScanFailed.
func (c *Client) Report(ctx context.Context, id string) (_ *Report, done bool, retryAfter time.Duration, err error) {
	defer errdefs.Wrapf(&err, "scanner adapter: report of scan %s", id)
	if id == "" {
		return nil, false, 0, errdefs.Invalid("empty scan id")
	}
	c.mu.Lock()
	accept := c.reportType
	c.mu.Unlock()
	resp, err := c.do(ctx, http.MethodGet, "/scan/"+url.PathEscape(id)+"/report", accept, "", nil)
	if err != nil {
		return nil, false, 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		var r Report
		if err := decode(resp, maxReportBody, &r); err != nil {
			return nil, false, 0, err
		}
		c.log.DebugContext(ctx, "scan report", "id", id, "vulnerabilities", len(r.Vulnerabilities))
		return &r, true, 0, nil
	case http.StatusFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxOtherBody))
		return nil, false, c.refreshAfter(ctx, resp.Header.Get("Refresh-After")), nil
	case http.StatusInternalServerError:
		return nil, false, 0, &failedError{msg: "scan failed: " + errorMessage(resp)}
	}
	return nil, false, 0, statusError(resp, "GET /scan/{id}/report")
}

// refreshAfter parses a Refresh-After value in seconds (an integer as the
// spec says, or a decimal); "" or a bad value is Options.DefaultPoll.
func (c *Client) refreshAfter(ctx context.Context, v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return c.opts.DefaultPoll
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || secs < 0 || secs > 24*3600 {
		c.log.WarnContext(ctx, "scanner adapter sent a bad Refresh-After", "value", v)
		return c.opts.DefaultPoll
	}
	return time.Duration(secs * float64(time.Second))
}

// do sends one request with the adapter's Authorization and the given
// Accept and Content-Type. A transport failure is errdefs.ErrUnavailable
// (or the context's error).
func (c *Client) do(ctx context.Context, method, path, accept, contentType string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, errdefs.Wrap(errdefs.ErrUnavailable, err, "%s %s", method, path)
	}
	return resp, nil
}

// decode reads a JSON body of at most limit bytes into v.
func decode(resp *http.Response, limit int64, v any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "read answer")
	}
	if int64(len(b)) > limit {
		return errdefs.TooLarge("answer exceeds %d bytes", limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errdefs.Wrap(errdefs.ErrInvalid, err, "adapter answered malformed JSON")
	}
	return nil
}

// statusError turns an unexpected answer into an error of the class its
// status implies, with the adapter's message.
func statusError(resp *http.Response, op string) error {
	var class error
	switch code := resp.StatusCode; {
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity:
		class = errdefs.ErrInvalid
	case code == http.StatusUnauthorized:
		class = errdefs.ErrUnauthenticated
	case code == http.StatusForbidden:
		class = errdefs.ErrDenied
	case code == http.StatusNotFound:
		class = errdefs.ErrNotFound
	case code == http.StatusNotAcceptable || code == http.StatusUnsupportedMediaType || code == http.StatusNotImplemented:
		class = errdefs.ErrUnsupported
	case code == http.StatusRequestEntityTooLarge:
		class = errdefs.ErrTooLarge
	case code == http.StatusTooManyRequests:
		class = errdefs.ErrTooManyRequests
	default:
		class = errdefs.ErrUnavailable
	}
	msg := fmt.Sprintf("%s: adapter answered %s", op, resp.Status)
	if m := errorMessage(resp); m != "" {
		msg += ": " + m
	}
	return &classError{class: class, msg: msg}
}

// errorMessage reads the message of an error answer: the spec's
// {"error":{"message":…}}, else the start of the body as text.
func errorMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	s := strings.TrimSpace(string(b))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

type classError struct {
	class error
	msg   string
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.class }

// failedError is a scan the adapter reports as failed.
type failedError struct{ msg string }

func (e *failedError) Error() string   { return e.msg }
func (e *failedError) Unwrap() []error { return []error{ErrScanFailed, errdefs.ErrUnavailable} }

func describe(caps []Capability) string {
	if len(caps) == 0 {
		return "none"
	}
	parts := make([]string, len(caps))
	for i, c := range caps {
		t := c.Type
		if t == "" {
			t = "vulnerability"
		}
		parts[i] = fmt.Sprintf("%s: [%s] → [%s]", t, strings.Join(c.ConsumesMIMETypes, ", "), strings.Join(c.ProducesMIMETypes, ", "))
	}
	return strings.Join(parts, "; ")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
