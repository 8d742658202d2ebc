package sync

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/errdefs"
)

// urlSource is the URL source and what its last successful sync saw.
type urlSource struct {
	raw  string // as configured, credentials and all
	name string // the source name: no user info, query or fragment
	zip  bool   // the path ends in .zip

	// Validators of the last successful sync, sent back to the server.
	etag, lastModified string
}

func newURLSource(raw string) (*urlSource, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// The error text repeats the URL, which may hold credentials.
		return nil, errdefs.Invalid("vulnerability sync: the URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errdefs.Invalid("vulnerability sync: the URL must be http:// or https:// with a host")
	}
	return &urlSource{raw: raw, name: SourceName(u), zip: strings.HasSuffix(strings.ToLower(u.Path), ".zip")}, nil
}

// SourceName is the name records fetched from u are attributed to: u
// without user info, query or fragment, which may hold credentials.
func SourceName(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// syncURL fetches the URL if it changed since the last successful sync and
// imports it.
func (s *Syncer) syncURL(ctx context.Context) SourceResult {
	src := s.url
	res := SourceResult{Source: src.name}
	if err := s.fetchURL(ctx, &res); err != nil {
		res.Err = fmt.Errorf("vulnerability sync from %s: %w", src.name, err)
		s.log.ErrorContext(ctx, "vulnerability sync failed", "source", src.name, "err", err)
	}
	return res
}

func (s *Syncer) fetchURL(ctx context.Context, res *SourceResult) error {
	src := s.url
	log := s.log.With("source", src.name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.raw, nil)
	if err != nil {
		return errdefs.Invalid("build the request: %v", err)
	}
	req.Header.Set("User-Agent", "berth-vulnsync")
	if src.etag != "" {
		req.Header.Set("If-None-Match", src.etag)
	}
	if src.lastModified != "" {
		req.Header.Set("If-Modified-Since", src.lastModified)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL; say what failed without it.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "GET")
	}
	defer resp.Body.Close()
	etag, lastModified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	switch {
	case resp.StatusCode == http.StatusNotModified:
		log.InfoContext(ctx, "vulnerability data not modified")
		return nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return errdefs.Unavailable("GET: the server answered %s", resp.Status)
	case etag != "" && !strings.HasPrefix(etag, "W/") && etag == src.etag:
		// The server ignored If-None-Match but says it is the same data.
		log.InfoContext(ctx, "vulnerability data not modified", "etag", etag)
		return nil
	case resp.ContentLength > s.cfg.MaxBytes:
		return errdefs.TooLarge("the server announces %s, over the %s limit",
			bytesize.Format(resp.ContentLength), bytesize.Format(s.cfg.MaxBytes))
	}
	log.InfoContext(ctx, "downloading vulnerability data", "bytes", resp.ContentLength)
	path, _, err := s.spool(ctx, log, resp.Body, "download", resp.ContentLength)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	if src.zip || isZipType(resp.Header.Get("Content-Type")) {
		if err := checkZip(path, "download"); err != nil {
			return err
		}
	}
	res.Fetched = true
	if err := s.importFile(ctx, res, path, "download"); err != nil {
		return err
	}
	src.etag, src.lastModified = etag, lastModified
	return nil
}

// isZipType reports whether a Content-Type or media type names a zip
// archive.
func isZipType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/zip" || mt == "application/x-zip-compressed")
}
