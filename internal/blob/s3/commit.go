package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// maxIndexAttempts bounds the retries of installing an index that races
// deletes or finds a broken index in its place.
const maxIndexAttempts = 3

// Commit checks the upload against expected and size, then makes it
// readable under expected without copying it: it makes the data object
// data/<id> (completing the multipart upload, or PUTting the buffer when
// the upload never needed a part) with expected recorded where a sweep
// finds it, verifies algorithms other than sha256 by reading data/<id>
// back, and writes the index object with a conditional write. If the store
// holds expected already, the first data object stays and this one is
// deleted. Removing the tails and the marker comes last; a failure there
// is logged, not returned (the blob is stored, and the sweep finishes the
// cleanup).
//
// A mismatch is an ErrInvalid error and leaves the upload's data for
// Cancel to remove; so is a part rewritten by a request from another
// state since ResumeWriter checked it.
func (w *writer) Commit(ctx context.Context, expected digest.Digest, size int64) (info blob.Info, err error) {
	defer errdefs.Wrapf(&err, "commit upload %s as %s", w.id, expected)
	if err := w.usable("commit"); err != nil {
		return blob.Info{}, err
	}
	if err := validateDigest(expected); err != nil {
		return blob.Info{}, err
	}
	if size >= 0 && size != w.h.Size() {
		return blob.Info{}, errdefs.Invalid("received %d bytes but the client declared %d", w.h.Size(), size)
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	ok, decided := w.h.Verify(expected)
	if decided && !ok {
		return blob.Info{}, errdefs.Invalid("content digest is %s", w.h.Digest())
	}
	if err := w.materialize(ctx, expected); err != nil {
		return blob.Info{}, err
	}
	if !decided {
		if err := w.s.verifyData(ctx, w.s.keys.data(w.id), expected, w.h.Size()); err != nil {
			return blob.Info{}, err
		}
	}
	winner, err := w.s.installIndex(ctx, expected, w.id, w.h.Size())
	if err != nil {
		return blob.Info{}, err
	}
	tails := w.tails
	w.end()
	w.s.finishCommit(ctx, w.id, tails, winner != w.id)
	return blob.Info{Digest: expected, Size: w.h.Size()}, nil
}

// materialize makes the data object and records expected where
// removeUnreferencedData looks for it, before any index can name the data
// object: in the data object's metadata when the buffer is PUT in one
// request, else in the marker, written before the multipart upload is
// completed. A second Commit (after a failed verification) only records
// its own digest.
func (w *writer) materialize(ctx context.Context, expected digest.Digest) error {
	s := w.s
	key := s.keys.data(w.id)
	switch {
	case w.completed:
	case w.st.Multipart == "":
		// Every byte is in the buffer, so the running sha256 is the
		// payload hash: the server checks the buffer against it.
		opts := minio.PutObjectOptions{UserMetadata: map[string]string{metaDigest: expected.String()}}
		_, err := s.putSigned(ctx, key, w.buf, w.h.Digest().Encoded(), opts)
		switch {
		case errCode(err) == codeSHA256Mismatch:
			return errdefs.Invalid("the upload's buffered data does not match its hash state")
		case err != nil:
			return s.storageError(err, "write data object")
		}
		w.recorded = expected
	default:
		if err := w.recordDigest(ctx, expected); err != nil {
			return err
		}
		if len(w.buf) > 0 {
			if err := w.uploadPart(ctx, w.buf); err != nil {
				return err
			}
			w.buf = w.buf[:0]
		}
		if err := w.complete(ctx, key); err != nil {
			return err
		}
	}
	w.completed = true
	w.releaseBuffer()
	return w.recordDigest(ctx, expected)
}

// recordDigest writes expected into the marker unless it is what a sweep
// would read already.
func (w *writer) recordDigest(ctx context.Context, expected digest.Digest) error {
	if w.recorded == expected {
		return nil
	}
	if err := w.s.putSmall(ctx, w.s.keys.marker(w.id), []byte(expected), minio.PutObjectOptions{}); err != nil {
		return w.s.storageError(err, "record the digest in the upload marker")
	}
	w.recorded = expected
	return nil
}

// complete completes the multipart upload with exactly the state's parts.
func (w *writer) complete(ctx context.Context, key string) error {
	s := w.s
	parts := make([]minio.CompletePart, len(w.st.Parts))
	for i, p := range w.st.Parts {
		parts[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
	}
	_, err := s.core.CompleteMultipartUpload(ctx, s.cfg.Bucket, key, w.st.Multipart, parts, minio.PutObjectOptions{})
	switch code := errCode(err); {
	case err == nil:
		return nil
	case code == codeInvalidPart || code == codeInvalidPartOrder:
		return errdefs.Invalid("the upload's parts were rewritten by a request from another state (%s)", code)
	case isMissing(err):
		return errdefs.NotFound("upload data not found (its multipart upload was aborted or completed)")
	default:
		return s.storageError(err, "complete multipart upload")
	}
}

// verifyData reads data object key back and checks it against expected
// and size.
func (s *Store) verifyData(ctx context.Context, key string, expected digest.Digest, size int64) error {
	body, oi, _, err := s.core.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return s.storageError(err, "read data object back to verify it")
	}
	defer body.Close()
	if oi.Size != size {
		return errdefs.Invalid("data object holds %d bytes, the upload %d", oi.Size, size)
	}
	err = blob.VerifyReader(ctxReader{ctx: ctx, r: body}, expected)
	switch {
	case err == nil || errdefs.IsInvalid(err):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("verify data object: %w", ctx.Err())
	default:
		return s.storageError(err, "read data object back to verify it")
	}
}

// installIndex makes dgst name upload id's data object unless an index
// naming an intact data object of that size exists already. It returns
// the upload id whose data object the index names in the end. An index
// whose data object is missing or of the wrong size is replaced, with
// If-Match on the ETag seen, so a concurrent replacement is not undone.
func (s *Store) installIndex(ctx context.Context, dgst digest.Digest, id string, size int64) (string, error) {
	opts := putIfAbsent()
	for range maxIndexAttempts {
		err := s.putIndex(ctx, dgst, id, size, opts)
		if err == nil {
			s.cache.put(dgst, indexEntry{key: s.keys.data(id), id: id, size: size})
			return id, nil
		}
		if !isPreconditionFailed(err) {
			return "", s.storageError(err, "write index object")
		}
		winner, etag, problem, err := s.existingIndex(ctx, dgst, size)
		switch {
		case err != nil:
			return "", err
		case winner != "":
			return winner, nil
		case etag == "":
			opts = putIfAbsent() // deleted meanwhile
			continue
		}
		s.log.WarnContext(ctx, "replacing a broken index object", "digest", dgst, "problem", problem)
		s.cache.evict(dgst)
		opts = minio.PutObjectOptions{}
		opts.SetMatchETag(etag)
	}
	return "", errdefs.Unavailable("write index object: it changed %d times while this commit tried to install it", maxIndexAttempts)
}

// existingIndex inspects the index of dgst that a conditional write found.
// It returns the upload id it names if that data object is intact and of
// size bytes; else, if the index exists, its ETag and what is wrong with
// it; neither if it was deleted meanwhile.
func (s *Store) existingIndex(ctx context.Context, dgst digest.Digest, size int64) (winner, etag, problem string, err error) {
	e, etag, err := s.headIndex(ctx, dgst)
	var broken *brokenIndexError
	switch {
	case errdefs.IsNotFound(err):
		return "", "", "", nil
	case errors.As(err, &broken):
		return "", etag, err.Error(), nil
	case err != nil:
		return "", "", "", err
	case e.size != size:
		return "", etag, fmt.Sprintf("it says %d bytes, the content has %d", e.size, size), nil
	}
	switch n, err := s.dataSize(ctx, e.key); {
	case errdefs.IsNotFound(err):
		return "", etag, "its data object " + e.key + " is missing", nil
	case err != nil:
		return "", "", "", err
	case n != size:
		return "", etag, fmt.Sprintf("its data object %s holds %d bytes, the content has %d", e.key, n, size), nil
	}
	return e.id, etag, "", nil
}

// finishCommit removes upload id's tails and marker after its index was
// written, and first its own data object if the index names another
// upload's (deduplication). tails are the tails the writer knew of; any
// other (written by a stale request meanwhile) stays under uploads/<id>/,
// where the sweep finds it. Failures are logged: the marker then stays,
// and the sweep finishes the work.
func (s *Store) finishCommit(ctx context.Context, id string, tails []string, duplicate bool) {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	var keys []string
	if duplicate {
		keys = append(keys, s.keys.data(id))
	}
	for _, t := range tails {
		keys = append(keys, s.keys.tail(id, t))
	}
	keys = append(keys, s.keys.marker(id))
	if err := s.removeKeys(ctx, keys); err != nil {
		s.log.WarnContext(ctx, "committed upload left objects behind; the upload sweep removes them", "upload", id, "err", err)
	}
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
