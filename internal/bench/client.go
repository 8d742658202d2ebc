package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
)

// Media types the tool pushes and accepts.
const (
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// manifestAccept is the Accept header container clients send when they
// resolve a tag.
var manifestAccept = strings.Join([]string{
	MediaTypeManifest, MediaTypeIndex,
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// Client speaks the OCI Distribution API v1.1 to one registry with plain
// net/http. It is safe for concurrent use; all requests share one
// connection pool sized for the highest concurrency the caller announced.
type Client struct {
	base *url.URL
	hc   *http.Client
	// auth is the Authorization header of every request ("" for none).
	auth string
}

// SetBasicAuth makes every request carry HTTP Basic credentials (a
// registry with access control, such as Berth; one without ignores them).
// Call it before the client is used.
func (c *Client) SetBasicAuth(user, password string) {
	c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// NewClient returns a Client for the registry at rawURL (scheme and host,
// e.g. http://127.0.0.1:5000) whose pool keeps at least maxConns idle
// connections, so that no scenario pays for new connections while it runs.
func NewClient(rawURL string, maxConns int) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errdefs.Invalid("registry URL %q: want http(s)://host:port", rawURL)
	}
	u.Path, u.RawQuery = "", ""
	tr := &http.Transport{
		Proxy:                 nil, // a benchmark talks to the server, never through a proxy
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2 * maxConns,
		MaxIdleConnsPerHost:   maxConns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true, // blobs are incompressible; never pay for gzip
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
		ExpectContinueTimeout: 0,
	}
	return &Client{base: u, hc: &http.Client{Transport: tr}}, nil
}

// Close drops the idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// StatusError is a response whose status was not the one the flow expects.
// It carries the first OCI error code of the body when there is one.
type StatusError struct {
	Op      string // what the tool was doing, e.g. "PUT manifest"
	Status  int
	Code    string // OCI error code, e.g. MANIFEST_INVALID
	Message string // OCI message or the start of the body
}

// Error reads "<op>: HTTP <status> <CODE>: <message>".
func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap classes the status so callers can use errdefs helpers.
func (e *StatusError) Unwrap() error {
	switch {
	case e.Status == http.StatusNotFound:
		return errdefs.ErrNotFound
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return errdefs.ErrDenied
	case e.Status == http.StatusConflict || e.Status == http.StatusRequestedRangeNotSatisfiable:
		return errdefs.ErrConflict
	case e.Status == http.StatusRequestEntityTooLarge:
		return errdefs.ErrTooLarge
	case e.Status >= 500:
		return errdefs.ErrUnavailable
	default:
		return errdefs.ErrInvalid
	}
}

// request is one HTTP exchange: what to send and which statuses mean success.
type request struct {
	op      string
	method  string
	url     *url.URL
	body    io.Reader
	size    int64 // Content-Length when body is not nil
	header  http.Header
	success []int
}

// do sends r and returns the response with its body open when the status
// is one of r.success; otherwise it reads the error body, closes it and
// returns a *StatusError.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, r.url.String(), r.body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, errdefs.Invalid("%v", err))
	}
	if r.body != nil {
		req.ContentLength = r.size
		if r.size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, errdefs.Unavailable("%v", err))
	}
	for _, s := range r.success {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer drain(resp)
	return nil, statusError(r.op, resp)
}

func statusError(op string, resp *http.Response) error {
	e := &StatusError{Op: op, Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var env struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Errors) > 0 {
		e.Code, e.Message = env.Errors[0].Code, env.Errors[0].Message
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
	}
	return e
}

// drain reads what is left of a body (bounded) and closes it, so the
// connection goes back to the pool.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

func (c *Client) url(format string, args ...any) *url.URL {
	u := *c.base
	u.Path = fmt.Sprintf(format, args...)
	return &u
}

// location resolves the Location header of resp against the request URL.
func location(op string, resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, errdefs.Invalid("%s: HTTP %d without a Location header", op, resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, errdefs.Invalid("%s: Location %q: %v", op, loc, err)
	}
	return u, nil
}

// StartUpload opens an upload session in repo (POST /blobs/uploads/) and
// returns the session URL.
func (c *Client) StartUpload(ctx context.Context, repo string) (*url.URL, error) {
	resp, err := c.do(ctx, request{
		op: "POST blob upload", method: http.MethodPost,
		url: c.url("/v2/%s/blobs/uploads/", repo), body: http.NoBody, size: 0,
		success: []int{http.StatusAccepted},
	})
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	return location("POST blob upload", resp)
}

// withDigest returns u with the digest query parameter set, keeping any
// state parameters the server put there.
func withDigest(u *url.URL, digest string) *url.URL {
	v := *u
	q := v.Query()
	q.Set("digest", digest)
	v.RawQuery = q.Encode()
	return &v
}

// PushMonolithic uploads a blob of size bytes read from body in one PUT:
// POST to open the session, then PUT ?digest= with the whole body.
func (c *Client) PushMonolithic(ctx context.Context, repo string, body io.Reader, size int64, digest string) error {
	u, err := c.StartUpload(ctx, repo)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, request{
		op: "PUT blob", method: http.MethodPut, url: withDigest(u, digest),
		body: body, size: size,
		header:  http.Header{"Content-Type": {"application/octet-stream"}},
		success: []int{http.StatusCreated},
	})
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// PushChunked uploads a blob of size bytes read from body in chunks of
// chunk bytes: POST, one PATCH per chunk with Content-Range start-end
// (inclusive), following the Location each response returns, then a PUT
// ?digest= without a body.
func (c *Client) PushChunked(ctx context.Context, repo string, body io.Reader, size, chunk int64, digest string) error {
	if chunk <= 0 {
		return errdefs.Invalid("chunk size %d: must be positive", chunk)
	}
	u, err := c.StartUpload(ctx, repo)
	if err != nil {
		return err
	}
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		resp, err := c.do(ctx, request{
			op: "PATCH blob chunk", method: http.MethodPatch, url: u,
			body: io.LimitReader(body, n), size: n,
			header: http.Header{
				"Content-Type":  {"application/octet-stream"},
				"Content-Range": {fmt.Sprintf("%d-%d", off, off+n-1)},
			},
			success: []int{http.StatusAccepted},
		})
		if err != nil {
			return fmt.Errorf("chunk at offset %d: %w", off, err)
		}
		u, err = location("PATCH blob chunk", resp)
		drain(resp)
		if err != nil {
			return err
		}
	}
	resp, err := c.do(ctx, request{
		op: "PUT blob (close chunked)", method: http.MethodPut, url: withDigest(u, digest),
		body: http.NoBody, size: 0, success: []int{http.StatusCreated},
	})
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// BlobExists reports whether repo serves the blob (HEAD: 200 yes, 404 no).
func (c *Client) BlobExists(ctx context.Context, repo, digest string) (bool, error) {
	resp, err := c.do(ctx, request{
		op: "HEAD blob", method: http.MethodHead, url: c.url("/v2/%s/blobs/%s", repo, digest),
		success: []int{http.StatusOK, http.StatusNotFound},
	})
	if err != nil {
		return false, err
	}
	drain(resp)
	return resp.StatusCode == http.StatusOK, nil
}

// PullBlob downloads a blob, hashing it while reading with buf as the copy
// buffer, and returns the number of bytes read. A body whose digest is not
// the one asked for is an error of class errdefs.ErrInvalid.
func (c *Client) PullBlob(ctx context.Context, repo, digest string, buf []byte) (int64, error) {
	resp, err := c.do(ctx, request{
		op: "GET blob", method: http.MethodGet, url: c.url("/v2/%s/blobs/%s", repo, digest),
		success: []int{http.StatusOK},
	})
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	h := sha256.New()
	var n int64
	if resp.ContentLength >= pipelineMin {
		n, err = hashPipelined(resp.Body, h)
	} else {
		n, err = io.CopyBuffer(h, resp.Body, buf)
	}
	if err != nil {
		return n, fmt.Errorf("GET blob %s: reading body after %d bytes: %w", digest, n, errdefs.Unavailable("%v", err))
	}
	if got := formatDigest(h.Sum(nil)); got != digest {
		return n, errdefs.Invalid("GET blob %s: body of %d bytes has digest %s", digest, n, got)
	}
	return n, nil
}

// PutManifest stores body under ref (a tag or a digest) and returns the
// digest the server reports, which must be the digest of body.
func (c *Client) PutManifest(ctx context.Context, repo, ref, mediaType string, body []byte) (string, error) {
	resp, err := c.do(ctx, request{
		op: "PUT manifest", method: http.MethodPut, url: c.url("/v2/%s/manifests/%s", repo, ref),
		body: bytes.NewReader(body), size: int64(len(body)),
		header:  http.Header{"Content-Type": {mediaType}},
		success: []int{http.StatusCreated},
	})
	if err != nil {
		return "", err
	}
	drain(resp)
	want := DigestOfBytes(body)
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != want {
		return "", errdefs.Invalid("PUT manifest %s:%s: server reports digest %s, body has %s", repo, ref, got, want)
	}
	return want, nil
}

// HeadManifest resolves ref and returns the Docker-Content-Digest header.
func (c *Client) HeadManifest(ctx context.Context, repo, ref string) (string, error) {
	resp, err := c.do(ctx, request{
		op: "HEAD manifest", method: http.MethodHead, url: c.url("/v2/%s/manifests/%s", repo, ref),
		header: http.Header{"Accept": {manifestAccept}}, success: []int{http.StatusOK},
	})
	if err != nil {
		return "", err
	}
	drain(resp)
	return resp.Header.Get("Docker-Content-Digest"), nil
}

// ManifestExists reports whether ref resolves in repo (HEAD: 200 yes, 404
// no).
func (c *Client) ManifestExists(ctx context.Context, repo, ref string) (bool, error) {
	_, err := c.HeadManifest(ctx, repo, ref)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// GetManifest fetches ref and returns the body, checked against the
// Docker-Content-Digest header when the server sends one.
func (c *Client) GetManifest(ctx context.Context, repo, ref string) ([]byte, error) {
	resp, err := c.do(ctx, request{
		op: "GET manifest", method: http.MethodGet, url: c.url("/v2/%s/manifests/%s", repo, ref),
		header: http.Header{"Accept": {manifestAccept}}, success: []int{http.StatusOK},
	})
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("GET manifest %s:%s: %w", repo, ref, errdefs.Unavailable("%v", err))
	}
	if want := resp.Header.Get("Docker-Content-Digest"); want != "" && DigestOfBytes(body) != want {
		return nil, errdefs.Invalid("GET manifest %s:%s: body does not match digest %s", repo, ref, want)
	}
	return body, nil
}

// Walk is the outcome of following a paginated listing to its end.
type Walk struct {
	Names   []string // every name, in the order served
	Pages   int      // requests made
	MaxPage int      // most names any one page held
}

// ListTags lists every tag of repo, pageSize at a time, following Link
// headers until there is none.
func (c *Client) ListTags(ctx context.Context, repo string, pageSize int) (Walk, error) {
	first := c.url("/v2/%s/tags/list", repo)
	first.RawQuery = "n=" + strconv.Itoa(pageSize)
	return c.walk(ctx, "GET tags list", first, func(b []byte) ([]string, error) {
		var page struct {
			Tags []string `json:"tags"`
		}
		err := json.Unmarshal(b, &page)
		return page.Tags, err
	})
}

// Catalog lists every repository, pageSize at a time, following Link
// headers until there is none.
func (c *Client) Catalog(ctx context.Context, pageSize int) (Walk, error) {
	first := c.url("/v2/_catalog")
	first.RawQuery = "n=" + strconv.Itoa(pageSize)
	return c.walk(ctx, "GET catalog", first, func(b []byte) ([]string, error) {
		var page struct {
			Repositories []string `json:"repositories"`
		}
		err := json.Unmarshal(b, &page)
		return page.Repositories, err
	})
}

// maxPages bounds a walk so that a server whose Link loops cannot hang the
// tool.
const maxPages = 1_000_000

func (c *Client) walk(ctx context.Context, op string, u *url.URL, parse func([]byte) ([]string, error)) (Walk, error) {
	var w Walk
	for u != nil {
		if w.Pages >= maxPages {
			return w, errdefs.Invalid("%s: more than %d pages; the Link chain does not end", op, maxPages)
		}
		resp, err := c.do(ctx, request{op: op, method: http.MethodGet, url: u, success: []int{http.StatusOK}})
		if err != nil {
			return w, fmt.Errorf("page %d: %w", w.Pages+1, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		drain(resp)
		w.Pages++
		if err != nil {
			return w, fmt.Errorf("%s page %d: %w", op, w.Pages, errdefs.Unavailable("%v", err))
		}
		names, err := parse(body)
		if err != nil {
			return w, errdefs.Invalid("%s page %d: body: %v", op, w.Pages, err)
		}
		w.Names = append(w.Names, names...)
		w.MaxPage = max(w.MaxPage, len(names))
		next, ok, err := NextLink(resp.Header.Get("Link"), resp.Request.URL)
		if err != nil {
			return w, fmt.Errorf("%s page %d: %w", op, w.Pages, err)
		}
		u = nil
		if ok {
			u = next
		}
	}
	return w, nil
}

// PushBytes uploads a small blob held in memory (a config) monolithically.
func (c *Client) PushBytes(ctx context.Context, repo string, data []byte) error {
	return c.PushMonolithic(ctx, repo, bytes.NewReader(data), int64(len(data)), DigestOfBytes(data))
}
