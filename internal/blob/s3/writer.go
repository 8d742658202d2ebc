package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// Buffer sizes: a writer's buffer starts small and grows by doubling up to
// smallBufMax, then moves to a pooled buffer of one part, so a small blob
// does not take a whole part of memory.
const (
	smallBufMin = 32 << 10
	smallBufMax = 256 << 10
	// readChunk is the room ReadFrom asks for before each Read.
	readChunk = 32 << 10
	// maxIdleBuffers is how many part buffers a Store keeps for reuse
	// between writers (a PATCH opens one writer each). Unlike a
	// sync.Pool's, they survive garbage collections, so a long chunked
	// upload reuses one buffer rather than allocating a part per PATCH.
	maxIdleBuffers = 2
)

// part is one uploaded part of a multipart upload.
type part struct {
	Number int    `json:"n"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
}

// driverState is the driver's part of an upload's saved state: with the
// hash state, everything another replica needs to continue the upload.
type driverState struct {
	// Multipart is the id of the multipart upload writing data/<id>, or
	// "" while every byte still fits the buffer.
	Multipart string `json:"mpu,omitempty"`
	// Parts are the uploaded parts, numbered 1 to len(Parts).
	Parts []part `json:"parts,omitempty"`
	// Tail names the tail object holding the bytes after the last part,
	// with its size and ETag; "" if there are none.
	Tail     string `json:"tail,omitempty"`
	TailSize int64  `json:"tailSize,omitempty"`
	TailETag string `json:"tailETag,omitempty"`
}

// size returns the number of bytes the state describes.
func (d driverState) size() int64 {
	n := d.TailSize
	for _, p := range d.Parts {
		n += p.Size
	}
	return n
}

// writer is one open upload: the parts uploaded so far (in st) and the
// bytes after them (in buf), hashed as they arrive.
type writer struct {
	s *Store
	// ctx is the context the writer was opened with; Write and the part
	// uploads it starts stop once it is done.
	ctx context.Context
	id  string
	h   *blob.Hasher
	st  driverState
	// buf holds the bytes after the last part; bufp is set when it is a
	// pooled part buffer.
	buf  []byte
	bufp *[]byte
	// dirty records that buf differs from the tail object in st.
	dirty bool
	// completed records that the data object exists: the multipart upload
	// was completed (or the buffer PUT) by Commit.
	completed bool
	// recorded is the digest a sweep would find for the data object (in
	// its metadata or the marker), "" before Commit.
	recorded digest.Digest
	// tails are the names of the tail objects this writer knows: the
	// state's when it was resumed and those its Flushes wrote.
	tails []string
	// done is set once the writer is committed, closed or cancelled.
	done    bool
	release func()
}

var (
	_ blob.Writer   = (*writer)(nil)
	_ io.ReaderFrom = (*writer)(nil)
)

// newWriter returns a writer for upload id at the point h and st describe.
func (s *Store) newWriter(ctx context.Context, id string, h *blob.Hasher, st driverState, release func()) *writer {
	return &writer{s: s, ctx: ctx, id: id, h: h, st: st, release: release}
}

// ID returns the upload id.
func (w *writer) ID() string { return w.id }

// Size returns the number of bytes written so far.
func (w *writer) Size() int64 { return w.h.Size() }

// Write buffers and hashes p, uploading a part each time the buffer holds
// a full one. It fails once the writer's context is done. Bytes it reports
// as written are in the buffer or uploaded even when it also returns an
// error (a part upload that failed is retried by the next Write or Flush).
func (w *writer) Write(p []byte) (int, error) {
	if err := w.writable(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		if err := w.makeRoom(len(p)); err != nil {
			return n, err
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.accept(k)
		n += k
		p = p[k:]
	}
	return n, nil
}

// ReadFrom reads r to its end straight into the part buffer, saving the
// copy through io.Copy's buffer. It stops once the writer's context is
// done.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if err := w.writable(); err != nil {
			return total, err
		}
		if err := w.makeRoom(readChunk); err != nil {
			return total, err
		}
		n, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.accept(n)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// accept takes the n bytes just copied after len(buf) into the upload.
func (w *writer) accept(n int) {
	if n == 0 {
		return
	}
	end := len(w.buf) + n
	w.h.Write(w.buf[len(w.buf):end])
	w.buf = w.buf[:end]
	w.dirty = true
}

// writable returns an error if Write may not proceed.
func (w *writer) writable() error {
	if err := w.usable("write to"); err != nil {
		return err
	}
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("write to upload %s: %w", w.id, err)
	}
	return nil
}

// makeRoom makes sure buf has free capacity, at least want bytes of it
// unless that is more than the rest of a part: it uploads a full buffer
// as a part, grows a small buffer (for an upload that may stay small), or
// moves to a pooled part buffer.
func (w *writer) makeRoom(want int) error {
	partSize := int(w.s.opts.PartSize)
	if len(w.buf) == partSize {
		if err := w.uploadBuffered(w.ctx); err != nil {
			return err
		}
	}
	free := cap(w.buf) - len(w.buf)
	if free > 0 && (free >= want || cap(w.buf) == partSize) {
		return nil
	}
	// An upload with parts is large: skip growing a small buffer.
	if need := len(w.buf) + want; need <= smallBufMax && w.st.Multipart == "" {
		nb := make([]byte, len(w.buf), min(max(need, 2*cap(w.buf), smallBufMin), smallBufMax))
		copy(nb, w.buf)
		w.buf = nb
		return nil
	}
	bp := w.s.partBuffer()
	*bp = append((*bp)[:0], w.buf...)
	w.buf, w.bufp = *bp, bp
	return nil
}

// partBuffer returns an idle part buffer, or a new one.
func (s *Store) partBuffer() *[]byte {
	select {
	case bp := <-s.idle:
		return bp
	default:
		b := make([]byte, 0, s.opts.PartSize)
		return &b
	}
}

// releaseBuffer keeps a part buffer for the next writer (or drops it if
// enough are idle) and forgets the buffer.
func (w *writer) releaseBuffer() {
	if w.bufp != nil {
		*w.bufp = (*w.bufp)[:0]
		select {
		case w.s.idle <- w.bufp:
		default:
		}
	}
	w.buf, w.bufp = nil, nil
}

// uploadBuffered uploads the whole buffer as the next part and empties it.
func (w *writer) uploadBuffered(ctx context.Context) error {
	if err := w.uploadPart(ctx, w.buf); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	w.dirty = false
	w.st.Tail, w.st.TailSize, w.st.TailETag = "", 0, ""
	return nil
}

// uploadPart uploads data as the next part, starting the multipart upload
// first if there is none. Over plain http the part's sha256 is signed, so
// the server verifies what it received; over https TLS does.
func (w *writer) uploadPart(ctx context.Context, data []byte) error {
	if len(w.st.Parts) >= maxParts {
		return errdefs.TooLarge("upload %s needs more than %d parts of up to %d bytes; raise the part size", w.id, maxParts, w.s.opts.PartSize)
	}
	s := w.s
	key := s.keys.data(w.id)
	if w.st.Multipart == "" {
		mpu, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, key, minio.PutObjectOptions{})
		if err != nil {
			return s.storageError(err, "upload %s: start multipart upload", w.id)
		}
		w.st.Multipart = mpu
	}
	num := len(w.st.Parts) + 1
	opts := minio.PutObjectPartOptions{DisableContentSha256: true}
	if !s.cfg.Secure {
		sum := sha256.Sum256(data)
		opts.Sha256Hex = hex.EncodeToString(sum[:])
	}
	p, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, key, w.st.Multipart, num, bytes.NewReader(data), int64(len(data)), opts)
	if isMissing(err) {
		return errdefs.NotFound("upload %s: its multipart upload is gone (aborted or completed)", w.id)
	}
	if err != nil {
		return s.storageError(err, "upload %s: upload part %d", w.id, num)
	}
	w.st.Parts = append(w.st.Parts, part{Number: num, ETag: p.ETag, Size: int64(len(data))})
	return nil
}

// Flush makes the buffered bytes durable: as a part if there are at least
// MinPartSize of them, else as a new tail object. Older tails stay until
// the next ResumeWriter, so a state saved before this Flush still resumes.
func (w *writer) Flush(ctx context.Context) error {
	if err := w.usable("flush"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("flush upload %s: %w", w.id, err)
	}
	if len(w.buf) >= MinPartSize {
		return w.uploadBuffered(ctx)
	}
	if !w.dirty {
		return nil
	}
	name := tailPrefix + randomHex(8)
	etag, err := w.s.putBytes(ctx, w.s.keys.tail(w.id, name), w.buf, minio.PutObjectOptions{})
	if err != nil {
		return w.s.storageError(err, "flush upload %s: write tail", w.id)
	}
	w.st.Tail, w.st.TailSize, w.st.TailETag = name, int64(len(w.buf)), etag
	w.tails = append(w.tails, name)
	w.dirty = false
	return nil
}

// State returns the hash state and the driver state at Size(). It is an
// ErrConflict error to ask with bytes written since the last Flush.
func (w *writer) State() ([]byte, error) {
	if w.dirty {
		return nil, errdefs.Conflict("state of upload %s: %d bytes written since the last Flush", w.id, len(w.buf))
	}
	st, err := blob.EncodeState(w.h, w.st)
	if err != nil {
		return nil, fmt.Errorf("state of upload %s: %w", w.id, err)
	}
	return st, nil
}

// Close releases the writer and keeps what was flushed for a later
// ResumeWriter. Closing again, or after Commit or Cancel, does nothing.
func (w *writer) Close() error {
	w.end()
	return nil
}

// Cancel discards the upload: its multipart upload, tails, marker, and
// its data object unless an index names it. After Commit or Close it does
// nothing. It works with a done ctx.
func (w *writer) Cancel(ctx context.Context) error {
	if w.done {
		return nil
	}
	mpu := w.st.Multipart
	w.end()
	if err := w.s.abort(ctx, w.id, mpu); err != nil {
		return fmt.Errorf("cancel upload %s: %w", w.id, err)
	}
	return nil
}

// end marks the writer done and releases its buffer and claim.
func (w *writer) end() {
	if w.done {
		return
	}
	w.done = true
	w.releaseBuffer()
	w.release()
}

// usable returns an ErrConflict error if the writer can no longer be used
// for op.
func (w *writer) usable(op string) error {
	if w.done {
		return errdefs.Conflict("cannot %s upload %s: the writer is closed, committed or cancelled", op, w.id)
	}
	return nil
}
