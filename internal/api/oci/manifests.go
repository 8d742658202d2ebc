package oci

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/berth-registry/berth/internal/registry"
)

// getManifest serves GET and HEAD /v2/<name>/manifests/<reference>.
func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	head := r.Method == http.MethodHead
	if !head && h.opts.PullGate != nil {
		if check := h.opts.PullGate(r.Context(), rt.name); check != nil {
			m, err := h.svc.GetManifest(r.Context(), rt.name, rt.arg, false)
			if err != nil {
				return err
			}
			if err := check(m); err != nil {
				return err
			}
		}
	}
	m, err := h.svc.GetManifest(r.Context(), rt.name, rt.arg, !head)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", m.MediaType)
	hdr.Set("Docker-Content-Digest", m.Digest.String())
	hdr.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	etag := `"` + m.Digest.String() + `"`
	hdr.Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && match == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	if !head {
		_, _ = w.Write(m.Content)
		detail := ""
		if rt.arg != m.Digest.String() {
			detail = "tag " + rt.arg
		}
		h.audit(r, "artifact.pull", rt.name, rt.name+"@"+m.Digest.String(), detail)
	}
	return nil
}

// putManifest serves PUT /v2/<name>/manifests/<reference>, with optional
// tag= parameters when pushing by digest.
func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	limit := h.svc.MaxManifestBytes()
	if r.ContentLength > limit {
		return errdefs.TooLarge("manifest is %d bytes, over the %d-byte limit", r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errdefs.TooLarge("manifest is over the %d-byte limit", limit)
		}
		return fmt.Errorf("read manifest body: %w", err)
	}
	res, err := h.svc.PutManifest(r.Context(), registry.ManifestPut{
		Repository:  rt.name,
		Reference:   rt.arg,
		ContentType: r.Header.Get("Content-Type"),
		Body:        body,
		Tags:        r.URL.Query()["tag"],
	})
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Location", "/v2/"+rt.name+"/manifests/"+res.Digest.String())
	hdr.Set("Docker-Content-Digest", res.Digest.String())
	if res.Subject != "" {
		hdr.Set("OCI-Subject", res.Subject.String())
	}
	for _, t := range res.Tags {
		hdr.Add("OCI-Tag", t)
	}
	writeEmpty(w, http.StatusCreated)
	h.audit(r, "artifact.push", rt.name, rt.name+"@"+res.Digest.String(), pushDetail(res))
	return nil
}

// deleteManifest serves DELETE by tag (the tag goes) or by digest (the
// manifest and its tags go).
func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := h.svc.DeleteManifest(r.Context(), rt.name, rt.arg); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	if tag, _, _ := ref.ParseReference(rt.arg); tag != "" {
		h.audit(r, "tag.delete", rt.name, rt.name+":"+tag, "")
	} else {
		h.audit(r, "artifact.delete", rt.name, rt.name+"@"+rt.arg, "")
	}
	return nil
}

// pushDetail describes the tags a push pointed at the manifest, saying
// where the ones that moved pointed before: "tag v1: sha256:… -> sha256:…".
func pushDetail(res *registry.ManifestPushed) string {
	var parts []string
	for _, t := range res.Tags {
		if prev, ok := res.Previous[t]; ok {
			parts = append(parts, fmt.Sprintf("tag %s: %s -> %s", t, prev, res.Digest))
		} else {
			parts = append(parts, "tag "+t)
		}
	}
	return strings.Join(parts, "; ")
}
