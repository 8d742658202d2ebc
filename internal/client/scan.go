package client

import (
	"context"
	"io"
	"net/url"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
)

// Scans, SBOMs, scan policies and vulnerability allowlists. An image is
// named as "repository:tag" or "repository@digest".

// sbomAccept is the Accept header of the SBOM route: the media types of
// the formats it serves.
const sbomAccept = "application/vnd.cyclonedx+json, application/spdx+json"

// RequestScan queues a scan of image now, even if it was scanned before
// (push on the repository), and returns its report as it stands, queued.
func (c *Client) RequestScan(ctx context.Context, image string) (*wire.ScanReport, error) {
	return call[wire.ScanReport](ctx, c, request{method: "POST", path: "/api/v1/scans", in: wire.ScanRequest{Image: image}})
}

// ScanReport returns the report of image's latest scan: its status,
// vulnerabilities, other findings and the pull gate's verdict (status
// "not_scanned" when no scan was asked for).
func (c *Client) ScanReport(ctx context.Context, image string) (*wire.ScanReport, error) {
	return call[wire.ScanReport](ctx, c, request{method: "GET", path: "/api/v1/scans", query: url.Values{"image": {image}}})
}

// SBOM returns the SBOM of image that its latest built-in scan made, in
// format ("cyclonedx" or "spdx"; "" is the server's default, cyclonedx),
// as the bytes of the document and its media type. An image without a
// finished scan has none (ErrNotFound).
func (c *Client) SBOM(ctx context.Context, image, format string) (doc []byte, mediaType string, err error) {
	q := url.Values{"image": {image}}
	if format != "" {
		q.Set("format", format)
	}
	resp, err := c.send(ctx, request{method: "GET", path: "/api/v1/sboms", query: q, accept: sbomAccept})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	doc, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", errdefs.Wrap(errdefs.ErrUnavailable, err, "read the SBOM of %s", image)
	}
	return doc, resp.Header.Get("Content-Type"), nil
}

// scanPolicyPath is the scan policy resource of project.
func scanPolicyPath(project string) string {
	return "/api/v1/projects/" + esc(project) + "/scan-policy"
}

// GetScanPolicy returns the scan policy of project (scan on push and the
// pull gate), the default one until one is set.
func (c *Client) GetScanPolicy(ctx context.Context, project string) (*wire.ScanPolicy, error) {
	return call[wire.ScanPolicy](ctx, c, request{method: "GET", path: scanPolicyPath(project)})
}

// SetScanPolicy sets (replaces) the scan policy of project and returns
// it as stored.
func (c *Client) SetScanPolicy(ctx context.Context, project string, p wire.ScanPolicy) (*wire.ScanPolicy, error) {
	return call[wire.ScanPolicy](ctx, c, request{method: "PUT", path: scanPolicyPath(project), in: p})
}

// allowlistPath is the allowlist of project, or the system-wide one for
// project "".
func allowlistPath(project string) string {
	if project == "" {
		return "/api/v1/allowlist"
	}
	return "/api/v1/projects/" + esc(project) + "/allowlist"
}

// ListAllowlist returns the vulnerability allowlist of project, or the
// system-wide one for project "", expired entries marked.
func (c *Client) ListAllowlist(ctx context.Context, project string) ([]wire.AllowlistEntry, error) {
	var out wire.AllowlistList
	err := c.do(ctx, request{method: "GET", path: allowlistPath(project), out: &out})
	return out.Entries, err
}

// AddAllowlistEntry adds e to the allowlist of project (the system-wide
// one for project ""), replacing an entry of the same id, and returns it
// as stored.
func (c *Client) AddAllowlistEntry(ctx context.Context, project string, e wire.AllowlistEntry) (*wire.AllowlistEntry, error) {
	return call[wire.AllowlistEntry](ctx, c, request{method: "POST", path: allowlistPath(project), in: e})
}

// RemoveAllowlistEntry removes the entry id from the allowlist of project
// (the system-wide one for project "").
func (c *Client) RemoveAllowlistEntry(ctx context.Context, project, id string) error {
	return c.do(ctx, request{method: "DELETE", path: allowlistPath(project) + "/" + esc(id)})
}
