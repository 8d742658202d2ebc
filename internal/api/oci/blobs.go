package oci

import (
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// parseDigest validates a digest taken from a URL or query.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", errdefs.Invalid("digest %q is not valid: %v", s, err)
	}
	return d, nil
}

// getBlob serves GET and HEAD /v2/<name>/blobs/<digest>, with Range support.
func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	dgst, err := parseDigest(rt.arg)
	if err != nil {
		return err
	}
	hdr := w.Header()
	if r.Method == http.MethodHead {
		b, err := h.svc.StatBlob(ctx, rt.name, dgst)
		if err != nil {
			return err
		}
		setBlobHeaders(hdr, dgst)
		if r.Header.Get("If-None-Match") == hdr.Get("ETag") {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
		hdr.Set("Content-Length", strconv.FormatInt(b.Size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	bc, err := h.svc.OpenBlob(ctx, rt.name, dgst, true)
	if err != nil {
		return err
	}
	if bc.RedirectURL != "" {
		http.Redirect(w, r, bc.RedirectURL, http.StatusTemporaryRedirect)
		return nil
	}
	defer bc.Content.Close()
	setBlobHeaders(hdr, dgst)
	// ServeContent answers Range and If-None-Match, and copies an *os.File
	// with sendfile.
	http.ServeContent(w, r, "", time.Time{}, bc.Content)
	return nil
}

func setBlobHeaders(h http.Header, dgst digest.Digest) {
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", `"`+dgst.String()+`"`)
	// Content under a digest never changes.
	h.Set("Cache-Control", "max-age=31536000")
}

// deleteBlob serves DELETE /v2/<name>/blobs/<digest>: the repository stops
// serving the blob.
func (h *Handler) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	dgst, err := parseDigest(rt.arg)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteBlob(r.Context(), rt.name, dgst); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	h.audit(r, "blob.delete", rt.name, rt.name+"@"+dgst.String(), "")
	return nil
}
