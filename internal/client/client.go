// Package client is the Go client of Berth's admin API (/api/v1), used by
// the berth CLI and by tests. It speaks the JSON of package api/admin/wire,
// authenticates with HTTP Basic (a password, a CLI secret or a robot
// secret), and returns the server's errors as *Error, which carries the
// server's code and message and matches the errdefs class of the code with
// errors.Is.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
)

// Options configures a Client.
type Options struct {
	// Username and Secret are the Basic credentials; both "" sends none.
	Username, Secret string
	// HTTPClient sends the requests; nil means a client with a 60 s timeout.
	HTTPClient *http.Client
	// UserAgent is sent with every request; "" means "berth-client".
	UserAgent string
}

// Client calls one server's admin API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	opts Options
}

// New returns a client of the server at server (see ServerURL).
func New(server string, opts Options) (*Client, error) {
	u, err := ServerURL(server)
	if err != nil {
		return nil, err
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "berth-client"
	}
	return &Client{base: u, opts: opts}, nil
}

// Server returns the server's base URL, e.g. "https://registry.example.com".
func (c *Client) Server() string { return c.base.String() }

// ServerURL parses a server as the user names it: a URL
// ("https://reg.example.com", "http://127.0.0.1:5000") or, as docker does,
// a bare host[:port], which means https except for loopback hosts
// (localhost, 127.0.0.0/8, ::1), which mean http. Paths are refused: the
// API lives at the server's root.
func ServerURL(server string) (*url.URL, error) {
	s := strings.TrimSuffix(strings.TrimSpace(server), "/")
	if s == "" {
		return nil, errdefs.Invalid("no server given: name one, e.g. registry.example.com or http://127.0.0.1:5000")
	}
	if !strings.Contains(s, "://") {
		scheme := "https"
		if isLoopback(s) {
			scheme = "http"
		}
		s = scheme + "://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errdefs.Invalid("server %q: %v", server, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.User != nil {
		return nil, errdefs.Invalid("server %q: want host[:port] or http(s)://host[:port]", server)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// isLoopback reports whether the host of host[:port] is a loopback name or
// address.
func isLoopback(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Error is an error answer of the server.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the server's error code, e.g. "NOT_FOUND".
	Code string
	// Message is the server's message.
	Message string
}

// Error returns the server's message.
func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// codeClasses maps the API's error codes to errdefs classes.
var codeClasses = map[string]error{
	"UNAUTHORIZED":      errdefs.ErrUnauthenticated,
	"DENIED":            errdefs.ErrDenied,
	"NOT_FOUND":         errdefs.ErrNotFound,
	"ALREADY_EXISTS":    errdefs.ErrAlreadyExists,
	"CONFLICT":          errdefs.ErrConflict,
	"INVALID":           errdefs.ErrInvalid,
	"TOO_LARGE":         errdefs.ErrTooLarge,
	"TOO_MANY_REQUESTS": errdefs.ErrTooManyRequests,
	"UNSUPPORTED":       errdefs.ErrUnsupported,
	"UNAVAILABLE":       errdefs.ErrUnavailable,
}

// Unwrap returns the errdefs class of the code (nil for an unknown code),
// so errors.Is(err, errdefs.ErrNotFound) works on a client error.
func (e *Error) Unwrap() error { return codeClasses[e.Code] }

// request is one API call.
type request struct {
	method, path string
	query        url.Values
	in           any // JSON body, or nil
	out          any // decoded from a 2xx body, or nil
	// accept is the Accept header; "" means application/json. Routes
	// that answer documents other than JSON (SBOMs) name theirs.
	accept string
}

// do sends req and decodes the answer.
func (c *Client) do(ctx context.Context, req request) error {
	resp, err := c.send(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if req.out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(req.out); err != nil {
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "%s %s: decode the answer", req.method, req.path)
	}
	return nil
}

// send sends req and returns the response if its status is 2xx, otherwise
// the server's error.
func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	u := *c.base
	u.Path = req.path
	u.RawPath = ""
	if len(req.query) > 0 {
		u.RawQuery = req.query.Encode()
	}
	var body io.Reader
	if req.in != nil {
		b, err := json.Marshal(req.in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode the request: %w", req.method, req.path, err)
		}
		body = bytes.NewReader(b)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, errdefs.Wrap(errdefs.ErrInvalid, err, "%s %s", req.method, req.path)
	}
	if req.in != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	accept := req.accept
	if accept == "" {
		accept = "application/json"
	}
	hr.Header.Set("Accept", accept)
	hr.Header.Set("User-Agent", c.opts.UserAgent)
	if c.opts.Username != "" || c.opts.Secret != "" {
		hr.SetBasicAuth(c.opts.Username, c.opts.Secret)
	}
	resp, err := c.opts.HTTPClient.Do(hr)
	if err != nil {
		return nil, errdefs.Wrap(errdefs.ErrUnavailable, err, "reach %s", c.base)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// readError turns an error response into *Error.
func readError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env wire.Errors
	if json.Unmarshal(b, &env) == nil && len(env.Errors) > 0 {
		e.Code, e.Message = env.Errors[0].Code, env.Errors[0].Message
		return e
	}
	// Not the API's envelope: a proxy in the way, or not a Berth server.
	e.Code = statusCode(resp.StatusCode)
	e.Message = fmt.Sprintf("server answered %d %s (is this a Berth server?)", resp.StatusCode, http.StatusText(resp.StatusCode))
	return e
}

// statusCode guesses the code of a status without an envelope.
func statusCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "TOO_MANY_REQUESTS"
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return "UNAVAILABLE"
	}
	return ""
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }
