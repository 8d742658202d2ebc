package berthtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Registry is a small OCI Distribution API client over plain net/http, for
// tests that need exact control over each request (crash and shutdown
// tests, fixtures). It checks statuses and headers the spec requires and
// nothing more; it is not a general client.
type Registry struct {
	// Base is the server's base URL, e.g. http://127.0.0.1:41234.
	Base string
	// HTTP sends the requests. It should not follow redirects.
	HTTP *http.Client
}

// Registry returns a client for the process.
func (p *Process) Registry() *Registry { return &Registry{Base: p.URL, HTTP: p.Client} }

// Registry returns a client for the in-process server.
func (s *Server) Registry() *Registry { return &Registry{Base: s.URL, HTTP: newClient(nil)} }

// StatusError is an unexpected HTTP status.
type StatusError struct {
	Method, URL string
	// Code is the status code received.
	Code int
	// Body is the start of the response body (an OCI error envelope).
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.URL, e.Code, e.Body)
}

// IsStatus reports whether err is a StatusError with code.
func IsStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}

// do sends req and returns the response if its status is want; otherwise
// a *StatusError (the body is read and closed).
func (r *Registry) do(req *http.Request, want int) (*http.Response, error) {
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &StatusError{Method: req.Method, URL: req.URL.String(), Code: resp.StatusCode, Body: string(body)}
	}
	return resp, nil
}

// send is do for responses whose body does not matter.
func (r *Registry) send(req *http.Request, want int) (http.Header, error) {
	resp, err := r.do(req, want)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header, nil
}

func (r *Registry) request(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	if strings.HasPrefix(target, "/") {
		target = r.Base + target
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, target, err)
	}
	return req, nil
}

// PushBlob uploads data to repo in one request (POST with digest=) and
// returns its digest.
func (r *Registry) PushBlob(ctx context.Context, repo string, data []byte) (digest.Digest, error) {
	dgst := digest.FromBytes(data)
	req, err := r.request(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+url.QueryEscape(dgst.String()), bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	h, err := r.send(req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	return dgst, checkDigestHeader(h, dgst)
}

// PushBlobChunked uploads data to repo as an upload session: POST, one
// PATCH with Content-Range per chunk bytes, then PUT with digest=. It
// returns the blob's digest.
func (r *Registry) PushBlobChunked(ctx context.Context, repo string, data []byte, chunk int) (digest.Digest, error) {
	loc, err := r.StartUpload(ctx, repo)
	if err != nil {
		return "", err
	}
	for start := 0; start < len(data); start += chunk {
		end := min(start+chunk, len(data))
		if loc, _, err = r.PatchChunk(ctx, loc, int64(start), bytes.NewReader(data[start:end]), int64(end-start)); err != nil {
			return "", err
		}
	}
	dgst := digest.FromBytes(data)
	return dgst, r.CompleteUpload(ctx, loc, dgst)
}

// StartUpload opens an upload session in repo and returns its absolute
// location URL.
func (r *Registry) StartUpload(ctx context.Context, repo string) (string, error) {
	req, err := r.request(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return "", err
	}
	h, err := r.send(req, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	return r.location(req, h)
}

// PatchChunk sends n bytes of body as the chunk starting at start of the
// upload at loc (with Content-Range), and returns the next location and the
// offset the registry reports.
func (r *Registry) PatchChunk(ctx context.Context, loc string, start int64, body io.Reader, n int64) (next string, offset int64, err error) {
	req, err := r.request(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return "", 0, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+n-1))
	return r.patch(req)
}

// PatchStream streams body to the upload at loc without Content-Range or
// Content-Length (chunked transfer encoding), and returns the next location
// and the offset the registry reports.
func (r *Registry) PatchStream(ctx context.Context, loc string, body io.Reader) (next string, offset int64, err error) {
	req, err := r.request(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return "", 0, err
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/octet-stream")
	return r.patch(req)
}

func (r *Registry) patch(req *http.Request) (string, int64, error) {
	h, err := r.send(req, http.StatusAccepted)
	if err != nil {
		return "", 0, err
	}
	next, err := r.location(req, h)
	if err != nil {
		return "", 0, err
	}
	off, err := ParseRange(h.Get("Range"))
	return next, off, err
}

// UploadStatus asks the upload at loc how many bytes it holds (GET). A
// missing upload is a *StatusError with code 404.
func (r *Registry) UploadStatus(ctx context.Context, loc string) (int64, error) {
	req, err := r.request(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return 0, err
	}
	h, err := r.send(req, http.StatusNoContent)
	if err != nil {
		return 0, err
	}
	return ParseRange(h.Get("Range"))
}

// CompleteUpload finishes the upload at loc with PUT ?digest=dgst and no
// body.
func (r *Registry) CompleteUpload(ctx context.Context, loc string, dgst digest.Digest) error {
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("upload location %q: %w", loc, err)
	}
	q := u.Query()
	q.Set("digest", dgst.String())
	u.RawQuery = q.Encode()
	req, err := r.request(ctx, http.MethodPut, u.String(), nil)
	if err != nil {
		return err
	}
	h, err := r.send(req, http.StatusCreated)
	if err != nil {
		return err
	}
	return checkDigestHeader(h, dgst)
}

// location resolves the Location header of a response to req.
func (r *Registry) location(req *http.Request, h http.Header) (string, error) {
	loc := h.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s %s: no Location header", req.Method, req.URL)
	}
	u, err := req.URL.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("%s %s: Location %q: %w", req.Method, req.URL, loc, err)
	}
	return u.String(), nil
}

// ParseRange reads an upload's Range header, "0-<last byte>", as the number
// of bytes held. "0-0" is read as 0: Berth sends it for an empty upload (see
// package httprange), so a test that resumes from the wrong point is
// refused with 416 rather than silently corrupting data.
func ParseRange(s string) (int64, error) {
	rest, ok := strings.CutPrefix(s, "0-")
	if !ok {
		return 0, fmt.Errorf("range %q does not start with 0-", s)
	}
	last, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || last < 0 {
		return 0, fmt.Errorf("range %q: bad last byte", s)
	}
	if last == 0 {
		return 0, nil
	}
	return last + 1, nil
}

// PutManifest stores body as a manifest of mediaType in repo under ref (a
// tag or a digest) and returns the digest the registry reports, checked
// against the digest of body.
func (r *Registry) PutManifest(ctx context.Context, repo, ref, mediaType string, body []byte) (digest.Digest, error) {
	req, err := r.request(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mediaType)
	h, err := r.send(req, http.StatusCreated)
	if err != nil {
		return "", err
	}
	dgst := digest.FromBytes(body)
	return dgst, checkDigestHeader(h, dgst)
}

// GetManifest fetches manifest ref (tag or digest) of repo and returns its
// bytes, media type and the digest the registry reports, checked against
// the digest of the bytes.
func (r *Registry) GetManifest(ctx context.Context, repo, ref string) (body []byte, mediaType string, dgst digest.Digest, err error) {
	req, err := r.request(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return nil, "", "", err
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
	}, ", "))
	resp, err := r.do(req, http.StatusOK)
	if err != nil {
		return nil, "", "", err
	}
	defer resp.Body.Close()
	if body, err = io.ReadAll(resp.Body); err != nil {
		return nil, "", "", fmt.Errorf("read manifest %s:%s: %w", repo, ref, err)
	}
	dgst = digest.FromBytes(body)
	return body, resp.Header.Get("Content-Type"), dgst, checkDigestHeader(resp.Header, dgst)
}

// OpenBlob starts a GET of blob dgst in repo and returns the body, for
// streaming a large blob. The caller closes it.
func (r *Registry) OpenBlob(ctx context.Context, repo string, dgst digest.Digest) (io.ReadCloser, int64, error) {
	req, err := r.request(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+dgst.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := r.do(req, http.StatusOK)
	if err != nil {
		return nil, 0, err
	}
	return resp.Body, resp.ContentLength, nil
}

// GetBlob fetches blob dgst of repo and fails unless its bytes have that
// digest.
func (r *Registry) GetBlob(ctx context.Context, repo string, dgst digest.Digest) ([]byte, error) {
	body, _, err := r.OpenBlob(ctx, repo, dgst)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read blob %s@%s: %w", repo, dgst, err)
	}
	if got := digest.FromBytes(data); got != dgst {
		return nil, fmt.Errorf("blob %s@%s: got %d bytes with digest %s", repo, dgst, len(data), got)
	}
	return data, nil
}

// Tags lists every tag of repo, following pagination links.
func (r *Registry) Tags(ctx context.Context, repo string) ([]string, error) {
	var page struct {
		Tags []string `json:"tags"`
	}
	var out []string
	err := r.pages(ctx, "/v2/"+repo+"/tags/list", func(dec *json.Decoder) error {
		page.Tags = nil
		err := dec.Decode(&page)
		out = append(out, page.Tags...)
		return err
	})
	return out, err
}

// Catalog lists every repository, following pagination links.
func (r *Registry) Catalog(ctx context.Context) ([]string, error) {
	var page struct {
		Repositories []string `json:"repositories"`
	}
	var out []string
	err := r.pages(ctx, "/v2/_catalog", func(dec *json.Decoder) error {
		page.Repositories = nil
		err := dec.Decode(&page)
		out = append(out, page.Repositories...)
		return err
	})
	return out, err
}

// pages GETs target and every page its Link headers name, decoding each.
func (r *Registry) pages(ctx context.Context, target string, decode func(*json.Decoder) error) error {
	for target != "" {
		req, err := r.request(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		resp, err := r.do(req, http.StatusOK)
		if err != nil {
			return err
		}
		err = decode(json.NewDecoder(resp.Body))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("decode %s: %w", req.URL, err)
		}
		target = nextLink(resp.Header.Get("Link"))
	}
	return nil
}

// Referrers lists the referrers of dgst in repo (GET .../referrers/<dgst>),
// only those of artifactType when it is not "".
func (r *Registry) Referrers(ctx context.Context, repo string, dgst digest.Digest, artifactType string) (*v1.Index, error) {
	target := "/v2/" + repo + "/referrers/" + dgst.String()
	if artifactType != "" {
		target += "?artifactType=" + url.QueryEscape(artifactType)
	}
	req, err := r.request(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var idx v1.Index
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		return nil, fmt.Errorf("decode referrers of %s@%s: %w", repo, dgst, err)
	}
	return &idx, nil
}

// nextLink extracts the URL of a `<url>; rel="next"` Link header.
func nextLink(link string) string {
	start, end := strings.IndexByte(link, '<'), strings.IndexByte(link, '>')
	if start < 0 || end < start || !strings.Contains(link[end:], `rel="next"`) {
		return ""
	}
	return link[start+1 : end]
}

func checkDigestHeader(h http.Header, want digest.Digest) error {
	if got := h.Get("Docker-Content-Digest"); got != want.String() {
		return fmt.Errorf("header Docker-Content-Digest is %q, want %s", got, want)
	}
	return nil
}
