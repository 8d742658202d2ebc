package oci

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/api/errcode"
	"github.com/berth-registry/berth/internal/manifest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// page reads the n and last query parameters. Without n the page is the
// configured maximum; a larger n is capped to it (the Link header then
// leads on).
func (h *Handler) page(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	n = h.opts.MaxPageSize
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", errcode.Newf(errcode.PaginationNumberInvalid, fmt.Sprintf("n=%q must be a non-negative integer", s))
		}
		n = min(v, h.opts.MaxPageSize)
	}
	return n, q.Get("last"), nil
}

// setNextLink points the client at the page after last.
func setNextLink(w http.ResponseWriter, path, last string, n int) {
	q := url.Values{"last": {last}, "n": {strconv.Itoa(n)}}
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
}

// listTags serves GET /v2/<name>/tags/list.
func (h *Handler) listTags(w http.ResponseWriter, r *http.Request, rt route) error {
	n, last, err := h.page(r)
	if err != nil {
		return err
	}
	tags, more, err := h.svc.ListTags(r.Context(), rt.name, last, n)
	if err != nil {
		return err
	}
	if more {
		setNextLink(w, "/v2/"+rt.name+"/tags/list", tags[len(tags)-1], n)
	}
	return writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

// catalog serves GET /v2/_catalog.
func (h *Handler) catalog(w http.ResponseWriter, r *http.Request, _ route) error {
	n, last, err := h.page(r)
	if err != nil {
		return err
	}
	var names []string
	var more bool
	if visible := h.visible(r); visible != nil {
		names, more, err = h.svc.ListVisibleRepositories(r.Context(), last, n, visible)
	} else {
		names, more, err = h.svc.ListRepositories(r.Context(), last, n)
	}
	if err != nil {
		return err
	}
	if more {
		setNextLink(w, "/v2/_catalog", names[len(names)-1], n)
	}
	return writeJSON(w, r, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{names})
}

// referrers serves GET /v2/<name>/referrers/<digest>: an OCI index of the
// manifests whose subject is the digest, optionally by artifactType.
func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, rt route) error {
	subject, err := parseDigest(rt.arg)
	if err != nil {
		return err
	}
	artifactType := r.URL.Query().Get("artifactType")
	descs, err := h.svc.Referrers(r.Context(), rt.name, subject, artifactType)
	if err != nil {
		return err
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	idx := v1.Index{MediaType: manifest.MediaTypeImageIndex, Manifests: descs}
	idx.SchemaVersion = 2
	return writeJSON(w, r, manifest.MediaTypeImageIndex, idx)
}

func writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	writeJSONBytes(w, r, http.StatusOK, contentType, body)
	return nil
}
