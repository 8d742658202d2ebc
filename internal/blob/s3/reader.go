package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// reader streams a data object. It holds at most one response body, open
// at bodyPos; Seek only moves pos, and the next Read reopens the object at
// pos with a ranged GET if the two differ. So http.ServeContent's
// Seek(0, End), Seek(0, Start) cost nothing, and a Range request one GET.
type reader struct {
	s    *Store
	ctx  context.Context
	dgst digest.Digest
	key  string
	size int64
	pos  int64
	// body is the open response, positioned at bodyPos; nil if none.
	body    io.ReadCloser
	bodyPos int64
	closed  bool
}

var _ io.ReadSeekCloser = (*reader)(nil)

// openData starts a GET of e's data object (which also proves that it
// exists) and returns a reader at offset 0. A missing data object is an
// ErrNotFound error.
func (s *Store) openData(ctx context.Context, dgst digest.Digest, e indexEntry) (io.ReadSeekCloser, error) {
	body, oi, _, err := s.core.GetObject(ctx, s.cfg.Bucket, e.key, minio.GetObjectOptions{})
	if isMissing(err) {
		return nil, errdefs.NotFound("blob %s not found (its data object is missing)", dgst)
	}
	if err != nil {
		return nil, s.storageError(err, "open blob %s", dgst)
	}
	if oi.Size != e.size {
		body.Close()
		return nil, errdefs.Unavailable("open blob %s: data object %s holds %d bytes, its index says %d", dgst, e.key, oi.Size, e.size)
	}
	return &reader{s: s, ctx: ctx, dgst: dgst, key: e.key, size: e.size, body: body}, nil
}

// Read reads from the current position, reopening the object there if
// the open response is elsewhere.
func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("read blob %s: reader is closed", r.dgst)
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.body == nil || r.bodyPos != r.pos {
		if err := r.reopen(); err != nil {
			return 0, err
		}
	}
	if rest := r.size - r.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.bodyPos += int64(n)
	switch {
	case errors.Is(err, io.EOF) && r.pos < r.size:
		r.dropBody()
		return n, fmt.Errorf("read blob %s: response ended at byte %d of %d: %w", r.dgst, r.pos, r.size, io.ErrUnexpectedEOF)
	case errors.Is(err, io.EOF):
		return n, io.EOF
	case err != nil:
		r.dropBody()
		return n, r.s.storageError(err, "read blob %s at byte %d", r.dgst, r.pos)
	}
	return n, nil
}

// reopen replaces the response with one starting at pos.
func (r *reader) reopen() error {
	r.dropBody()
	var opts minio.GetObjectOptions
	// SetRange(0, 0) would ask for the first byte only: from 0 it is a
	// plain GET.
	if r.pos > 0 {
		if err := opts.SetRange(r.pos, 0); err != nil {
			return errdefs.Invalid("read blob %s at %d: %v", r.dgst, r.pos, err)
		}
	}
	body, _, _, err := r.s.core.GetObject(r.ctx, r.s.cfg.Bucket, r.key, opts)
	if isMissing(err) {
		return errdefs.NotFound("read blob %s: its data object was deleted", r.dgst)
	}
	if err != nil {
		return r.s.storageError(err, "read blob %s from byte %d", r.dgst, r.pos)
	}
	r.body, r.bodyPos = body, r.pos
	return nil
}

// dropBody closes the open response, if any.
func (r *reader) dropBody() {
	if r.body != nil {
		_ = r.body.Close() // a read-only response: nothing to lose
		r.body = nil
	}
}

// Seek sets the position for the next Read, as io.Seeker describes. It
// makes no request.
func (r *reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errdefs.Invalid("seek blob %s: whence %d is not valid", r.dgst, whence)
	}
	if abs < 0 {
		return 0, errdefs.Invalid("seek blob %s: position %d is before the start", r.dgst, abs)
	}
	r.pos = abs
	return abs, nil
}

// Close releases the open response.
func (r *reader) Close() error {
	r.dropBody()
	r.closed = true
	return nil
}
