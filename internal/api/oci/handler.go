// Package oci serves the OCI Distribution API v1.1 under /v2/: one
// dispatcher parses the path (route.go) and hands each resource to a small
// handler (one file per resource) that parses the request, calls the
// registry service and writes the response. Errors are returned, never
// written by hand; writeError picks the spec's code for the resource.
//
// Before any handler runs, the Guard of Options (guard.go) admits the
// request for what its route needs, so a refused caller learns nothing
// about what the repository holds; the handlers record what succeeded in
// the audit log.
package oci

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/errcode"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/httprange"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/berth-registry/berth/internal/registry"
)

// Options tune the handler.
type Options struct {
	// MaxPageSize caps n in tag and catalog listings, and is the page size
	// when a client gives none.
	MaxPageSize int
	// Guard admits requests; nil admits everything (unit tests of the
	// handlers, a registry without access control).
	Guard Guard
	// Audit records registry events (pulls, pushes, deletes); nil records
	// nothing.
	Audit func(ctx context.Context, e meta.AuditEvent)
	// PullGate, when set, tells whether manifest GETs from repo are gated
	// for the caller in ctx: nil when not (the usual, free case), else a
	// check that decides for the manifest found, whose error is sent
	// instead of it (the vulnerability gate answers DENIED). The check runs
	// before the content is read, so a denied GET is not counted as a pull.
	// HEAD requests are not gated: they transfer no content.
	PullGate func(ctx context.Context, repo string) func(m *meta.Manifest) error
}

// Handler serves /v2/.
type Handler struct {
	svc  *registry.Service
	opts Options
}

// New returns a Handler over svc.
func New(svc *registry.Service, opts Options) *Handler {
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 10000
	}
	return &Handler{svc: svc, opts: opts}
}

// ServeHTTP dispatches a /v2 request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parsePath(r.URL.Path)
	if !ok {
		errcode.Write(w, r, errcode.Newf(errcode.NameUnknown, "no such endpoint: "+r.URL.Path).WithStatus(http.StatusNotFound))
		return
	}
	api.SetRoute(r.Context(), label[rt.kind], rt.name)
	if rt.name != "" {
		if err := ref.ValidRepository(rt.name); err != nil {
			errcode.Write(w, r, errcode.New(errcode.NameInvalid, err))
			return
		}
	}
	fn := h.method(rt.kind, r.Method)
	if fn == nil {
		w.Header().Set("Allow", allowed[rt.kind])
		errcode.Write(w, r, errcode.Newf(errcode.Unsupported, r.Method+" is not supported here; allowed: "+allowed[rt.kind]))
		return
	}
	admitted, err := h.admit(w, r, rt)
	if err != nil {
		h.writeError(w, r, rt, err)
		return
	}
	r = admitted
	if err := fn(w, r, rt); err != nil {
		h.writeError(w, r, rt, err)
	}
}

type handlerFunc func(http.ResponseWriter, *http.Request, route) error

var allowed = map[kind]string{
	kindBase:        "GET, HEAD",
	kindCatalog:     "GET",
	kindTags:        "GET",
	kindManifest:    "GET, HEAD, PUT, DELETE",
	kindBlob:        "GET, HEAD, DELETE",
	kindUploadStart: "POST",
	kindUpload:      "GET, PATCH, PUT, DELETE",
	kindReferrers:   "GET",
}

func (h *Handler) method(k kind, m string) handlerFunc {
	type key struct {
		k kind
		m string
	}
	switch (key{k, m}) {
	case key{kindBase, http.MethodGet}, key{kindBase, http.MethodHead}:
		return h.base
	case key{kindCatalog, http.MethodGet}:
		return h.catalog
	case key{kindTags, http.MethodGet}:
		return h.listTags
	case key{kindManifest, http.MethodGet}, key{kindManifest, http.MethodHead}:
		return h.getManifest
	case key{kindManifest, http.MethodPut}:
		return h.putManifest
	case key{kindManifest, http.MethodDelete}:
		return h.deleteManifest
	case key{kindBlob, http.MethodGet}, key{kindBlob, http.MethodHead}:
		return h.getBlob
	case key{kindBlob, http.MethodDelete}:
		return h.deleteBlob
	case key{kindUploadStart, http.MethodPost}:
		return h.startUpload
	case key{kindUpload, http.MethodGet}:
		return h.uploadStatus
	case key{kindUpload, http.MethodPatch}:
		return h.patchUpload
	case key{kindUpload, http.MethodPut}:
		return h.putUpload
	case key{kindUpload, http.MethodDelete}:
		return h.cancelUpload
	case key{kindReferrers, http.MethodGet}:
		return h.referrers
	}
	return nil
}

// base answers the API version check.
func (h *Handler) base(w http.ResponseWriter, r *http.Request, _ route) error {
	writeJSONBytes(w, r, http.StatusOK, "application/json", []byte("{}"))
	return nil
}

// writeError maps err to the spec's code for resource rt and writes it.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, rt route, err error) {
	e := h.codeFor(w, rt, err)
	if e.Code == errcode.Internal || e.Code == errcode.Unavailable {
		api.Logger(r.Context()).ErrorContext(r.Context(), "request failed", "route", label[rt.kind],
			"repository", rt.name, "err", err)
	}
	errcode.Write(w, r, e)
}

// notFoundCode and invalidCode are the spec's codes for a missing thing and
// for bad input, per resource.
var (
	notFoundCode = map[kind]*errcode.Code{
		kindTags:        errcode.NameUnknown,
		kindManifest:    errcode.ManifestUnknown,
		kindBlob:        errcode.BlobUnknown,
		kindUploadStart: errcode.BlobUnknown,
		kindUpload:      errcode.BlobUploadUnknown,
	}
	invalidCode = map[kind]*errcode.Code{
		kindManifest:    errcode.ManifestInvalid,
		kindBlob:        errcode.DigestInvalid,
		kindUploadStart: errcode.DigestInvalid,
		kindUpload:      errcode.BlobUploadInvalid,
		kindReferrers:   errcode.DigestInvalid,
		kindTags:        errcode.NameInvalid,
	}
)

func (h *Handler) codeFor(w http.ResponseWriter, rt route, err error) *errcode.Error {
	var (
		ce       *errcode.Error
		missing  *registry.MissingReferencesError
		mismatch *registry.DigestMismatchError
		rng      *registry.RangeError
	)
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &missing):
		return errcode.New(errcode.ManifestBlobUnknown, missing).WithDetail(missing)
	case errors.As(err, &mismatch):
		return errcode.New(errcode.DigestInvalid, mismatch)
	case errors.As(err, &rng):
		setUploadHeaders(w, rt.name, rt.arg, rng.Offset)
		return errcode.New(errcode.RangeInvalid, rng)
	}
	switch {
	case errdefs.IsNotFound(err) && notFoundCode[rt.kind] != nil:
		return errcode.New(notFoundCode[rt.kind], err)
	case errors.Is(err, errdefs.ErrTooLarge) && rt.kind == kindManifest:
		return errcode.New(errcode.ManifestInvalid, err).WithStatus(http.StatusRequestEntityTooLarge)
	case (errdefs.IsInvalid(err) || errors.Is(err, errdefs.ErrUnsupported)) && invalidCode[rt.kind] != nil:
		return errcode.New(invalidCode[rt.kind], err)
	}
	return errcode.From(err)
}

// setUploadHeaders sets what every upload response carries: where to send
// the next request and how much the registry holds.
func setUploadHeaders(w http.ResponseWriter, name, id string, offset int64) {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/uploads/"+url.PathEscape(id))
	h.Set("Range", httprange.FormatRange(offset))
	h.Set("Docker-Upload-UUID", id)
}

// writeJSONBytes writes a body with exact Content-Length; HEAD gets none.
func writeJSONBytes(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeEmpty writes a bodiless response.
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
