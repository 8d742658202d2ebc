package oci

import (
	"fmt"
	"io"
	"net/http"

	"github.com/berth-registry/berth/internal/api/errcode"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/httprange"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// startUpload serves POST /v2/<name>/blobs/uploads/: a cross-repository
// mount (mount=, from=), a monolithic upload (digest= with the body), or a
// new upload session.
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	q := r.URL.Query()
	if m := q.Get("mount"); m != "" {
		dgst, err := parseDigest(m)
		if err != nil {
			return err
		}
		b, err := h.svc.MountBlob(ctx, rt.name, q.Get("from"), dgst)
		switch {
		case err == nil:
			writeBlobCreated(w, rt.name, b)
			return nil
		case !errdefs.IsNotFound(err) && !errdefs.IsInvalid(err):
			return err
		}
		// The source does not hold it (or is not a valid name): the spec
		// says to fall back to an upload session.
	}
	if d := q.Get("digest"); d != "" {
		dgst, err := parseDigest(d)
		if err != nil {
			return err
		}
		b, err := h.svc.PutBlob(ctx, rt.name, dgst, r.Body)
		if err != nil {
			return err
		}
		writeBlobCreated(w, rt.name, b)
		return nil
	}
	u, err := h.svc.StartUpload(ctx, rt.name)
	if err != nil {
		return err
	}
	setUploadHeaders(w, rt.name, u.ID, 0)
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// uploadStatus serves GET on an upload session: how much it holds.
func (h *Handler) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) error {
	u, err := h.svc.Upload(r.Context(), rt.name, rt.arg)
	if err != nil {
		return err
	}
	setUploadHeaders(w, rt.name, u.ID, u.Offset)
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// patchUpload serves PATCH: one chunk (with Content-Range) or a stream
// (without) appended to the session.
func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	start, body, err := chunkBody(r)
	if err != nil {
		return err
	}
	u, err := h.svc.AppendUpload(r.Context(), rt.name, rt.arg, start, body)
	if err != nil {
		return err
	}
	setUploadHeaders(w, rt.name, u.ID, u.Offset)
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// putUpload serves PUT ?digest=: an optional last chunk, then the upload is
// verified and becomes the blob.
func (h *Handler) putUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	d := r.URL.Query().Get("digest")
	if d == "" {
		return errcode.Newf(errcode.DigestInvalid, "the digest query parameter is required to complete an upload")
	}
	dgst, err := parseDigest(d)
	if err != nil {
		return errcode.New(errcode.DigestInvalid, err)
	}
	start, body, err := chunkBody(r)
	if err != nil {
		return err
	}
	if r.ContentLength == 0 {
		body = nil
	}
	b, err := h.svc.CompleteUpload(r.Context(), rt.name, rt.arg, dgst, start, body)
	if err != nil {
		return err
	}
	writeBlobCreated(w, rt.name, b)
	return nil
}

// cancelUpload serves DELETE on an upload session.
func (h *Handler) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := h.svc.CancelUpload(r.Context(), rt.name, rt.arg); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

// chunkBody returns where the request's chunk starts (-1 when it has no
// Content-Range) and its body, limited to the range's length.
func chunkBody(r *http.Request) (int64, io.Reader, error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, r.Body, nil
	}
	start, end, err := httprange.ParseContentRange(cr)
	if err != nil {
		return 0, nil, errcode.New(errcode.RangeInvalid, err)
	}
	n := end - start + 1
	if r.ContentLength >= 0 && r.ContentLength != n {
		return 0, nil, errcode.Newf(errcode.BlobUploadInvalid,
			fmt.Sprintf("Content-Length %d does not match Content-Range %q (%d bytes)", r.ContentLength, cr, n)).
			WithStatus(http.StatusRequestedRangeNotSatisfiable)
	}
	return start, &exactReader{r: io.LimitReader(r.Body, n), want: n}, nil
}

// exactReader fails if its source ends before want bytes.
type exactReader struct {
	r    io.Reader
	want int64
	got  int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.got += int64(n)
	if err == io.EOF && e.got < e.want {
		return n, errdefs.Invalid("chunk ended after %d of %d bytes", e.got, e.want)
	}
	return n, err
}

// writeBlobCreated answers a finished upload or mount.
func writeBlobCreated(w http.ResponseWriter, name string, b *meta.Blob) {
	w.Header().Set("Location", blobLocation(name, b.Digest))
	w.Header().Set("Docker-Content-Digest", b.Digest.String())
	writeEmpty(w, http.StatusCreated)
}

func blobLocation(name string, d digest.Digest) string {
	return "/v2/" + name + "/blobs/" + d.String()
}
