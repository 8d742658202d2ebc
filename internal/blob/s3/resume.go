package s3

import (
	"context"
	"io"
	"path"
	"strings"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
)

// ResumeWriter reopens upload id at the point state describes, on any
// replica. It checks that the upload's marker exists (else ErrNotFound:
// aborted, committed or never started), that every part and the tail the
// state names are stored unchanged (else ErrConflict: a request from an
// older state rewrote them), deletes every other tail (data beyond the
// state, or older than it), and reads the tail back into the buffer. An
// ErrInvalid error for a malformed id or state, and ErrConflict if this
// Store has a writer open on id. ctx bounds the Writer's life.
func (s *Store) ResumeWriter(ctx context.Context, id string, state []byte) (_ blob.Writer, err error) {
	defer errdefs.Wrapf(&err, "resume upload %s", id)
	if err := validateID(id); err != nil {
		return nil, err
	}
	st, h, err := decodeState(state)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	release, err := s.claim(id)
	if err != nil {
		if gone, gerr := s.uploadGone(ctx, id); gerr == nil && gone {
			return nil, errdefs.NotFound("upload data not found (aborted, committed or never started)")
		}
		return nil, err
	}
	w := s.newWriter(ctx, id, h, st, release)
	if err := w.resume(ctx); err != nil {
		w.end()
		return nil, err
	}
	return w, nil
}

// uploadGone reports whether upload id's marker is missing (one HEAD).
func (s *Store) uploadGone(ctx context.Context, id string) (bool, error) {
	_, err := s.core.StatObject(ctx, s.cfg.Bucket, s.keys.marker(id), minio.StatObjectOptions{})
	if isMissing(err) {
		return true, nil
	}
	if err != nil {
		return false, s.storageError(err, "check upload marker")
	}
	return false, nil
}

// decodeState decodes and checks a saved state.
func decodeState(state []byte) (driverState, *blob.Hasher, error) {
	var st driverState
	h, err := blob.DecodeState(state, &st)
	if err != nil {
		return st, nil, err
	}
	if st.Tail != "" && !validTailName(st.Tail) || st.Tail == "" && (st.TailSize != 0 || st.TailETag != "") {
		return st, nil, errdefs.Invalid("upload state names a malformed tail %q", st.Tail)
	}
	for i, p := range st.Parts {
		if p.Number != i+1 || p.Size <= 0 || p.ETag == "" {
			return st, nil, errdefs.Invalid("upload state has a malformed part %d", i+1)
		}
	}
	if len(st.Parts) > 0 && st.Multipart == "" {
		return st, nil, errdefs.Invalid("upload state has parts but no multipart upload")
	}
	if n := st.size(); n != h.Size() {
		return st, nil, errdefs.Invalid("upload state describes %d bytes of data but %d hashed", n, h.Size())
	}
	if st.TailSize < 0 || st.TailSize >= MinPartSize {
		// Flush writes a part, not a tail, from MinPartSize bytes on, so a
		// tail always fits the buffer of any part size.
		return st, nil, errdefs.Invalid("upload state has a tail of %d bytes", st.TailSize)
	}
	return st, h, nil
}

// resume checks w's state against the bucket, removes the tails it does
// not name and loads its tail into the buffer.
func (w *writer) resume(ctx context.Context) error {
	s := w.s
	objs, err := s.listKeys(ctx, s.keys.upload(w.id))
	if err != nil {
		return err
	}
	var marker, tail bool
	var others []string
	for _, oi := range objs {
		switch name := path.Base(oi.Key); {
		case name == markerName:
			marker = true
		case name == w.st.Tail && oi.Size == w.st.TailSize && sameETag(oi.ETag, w.st.TailETag):
			tail = true
		default:
			others = append(others, oi.Key)
		}
	}
	if !marker {
		return errdefs.NotFound("upload data not found (aborted, committed or never started)")
	}
	if w.st.Tail != "" && !tail {
		return errdefs.Conflict("the upload's data after byte %d was rewritten by a request from another state", w.h.Size()-w.st.TailSize)
	}
	if err := w.checkParts(ctx); err != nil {
		return err
	}
	if err := s.removeKeys(ctx, others); err != nil {
		return err
	}
	if w.st.Tail != "" {
		w.tails = []string{w.st.Tail}
	}
	return w.loadTail(ctx)
}

// checkParts verifies that the multipart upload holds every part of the
// state unchanged. Parts after them may exist: Commit leaves them out, or
// the writer overwrites them.
func (w *writer) checkParts(ctx context.Context) error {
	if w.st.Multipart == "" {
		return nil
	}
	s := w.s
	key := s.keys.data(w.id)
	marker := 0
	for i := 0; i < len(w.st.Parts); {
		res, err := s.core.ListObjectParts(ctx, s.cfg.Bucket, key, w.st.Multipart, marker, 1000)
		if isMissing(err) {
			return errdefs.NotFound("upload data not found (its multipart upload was aborted or completed)")
		}
		if err != nil {
			return s.storageError(err, "list the upload's parts")
		}
		for _, p := range res.ObjectParts {
			if i < len(w.st.Parts) && p.PartNumber == w.st.Parts[i].Number {
				if want := w.st.Parts[i]; p.Size != want.Size || !sameETag(p.ETag, want.ETag) {
					return errdefs.Conflict("part %d of the upload was rewritten by a request from another state", p.PartNumber)
				}
				i++
			}
		}
		if i < len(w.st.Parts) && (!res.IsTruncated || res.NextPartNumberMarker <= marker) {
			return errdefs.Conflict("part %d of the upload is missing", w.st.Parts[i].Number)
		}
		marker = res.NextPartNumberMarker
	}
	return nil
}

// loadTail reads the state's tail object into the buffer. The bytes are
// hashed already (the hash state covers them).
func (w *writer) loadTail(ctx context.Context) error {
	if w.st.Tail == "" {
		return nil
	}
	s := w.s
	body, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, s.keys.tail(w.id, w.st.Tail), minio.GetObjectOptions{})
	if isMissing(err) {
		return errdefs.Conflict("the upload's tail was removed by a request from another state")
	}
	if err != nil {
		return s.storageError(err, "read the upload's tail")
	}
	defer body.Close()
	n := int(w.st.TailSize)
	if err := w.makeRoom(n); err != nil {
		return err
	}
	if _, err := io.ReadFull(body, w.buf[:n]); err != nil {
		return s.storageError(err, "read the upload's tail")
	}
	w.buf = w.buf[:n]
	return nil
}

// sameETag compares ETags without their quotes.
func sameETag(a, b string) bool {
	return strings.Trim(a, `"`) == strings.Trim(b, `"`)
}
