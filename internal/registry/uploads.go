package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"
)

// RangeError says a chunk does not start where the upload stands (416).
type RangeError struct {
	// Offset is the number of bytes the upload holds.
	Offset int64
	// Start is where the rejected chunk said it starts.
	Start int64
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("chunk starts at byte %d but the upload holds %d bytes; resume from byte %d", e.Start, e.Offset, e.Offset)
}

// Unwrap classes the error as a conflict.
func (e *RangeError) Unwrap() error { return errdefs.ErrConflict }

// StartUpload opens an upload session in repository repo (created if new)
// and returns it. The session row is the lease on the data it will receive.
func (s *Service) StartUpload(ctx context.Context, repo string) (u *meta.Upload, err error) {
	defer errdefs.Wrapf(&err, "start upload in %s", repo)
	r, err := s.ensureRepository(ctx, repo)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u = &meta.Upload{
		ID:           uuid.NewString(),
		RepositoryID: r.ID,
		StartedAt:    now,
		UpdatedAt:    now,
		ExpiresAt:    now.Add(s.opts.UploadExpiry),
	}
	if err := s.meta.CreateUpload(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// Upload returns the session id of repository repo, or ErrNotFound.
func (s *Service) Upload(ctx context.Context, repo, id string) (u *meta.Upload, err error) {
	defer errdefs.Wrapf(&err, "upload %s in %s", id, repo)
	r, err := s.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	u, err = s.meta.GetUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.RepositoryID != r.ID {
		return nil, errdefs.NotFound("upload %s does not belong to repository %s", id, repo)
	}
	return u, nil
}

// AppendUpload writes body at offset start (or at the end when start is
// negative, for streamed uploads) and returns the session with its new
// offset. What was received is kept even if the body ends early, so the
// client can ask for the offset and resume.
func (s *Service) AppendUpload(ctx context.Context, repo, id string, start int64, body io.Reader) (u *meta.Upload, err error) {
	defer errdefs.Wrapf(&err, "append to upload %s in %s", id, repo)
	unlock := s.locks.lock(id)
	defer unlock()
	u, err = s.Upload(ctx, repo, id)
	if err != nil {
		return nil, err
	}
	if start >= 0 && start != u.Offset {
		return u, &RangeError{Offset: u.Offset, Start: start}
	}
	body, quotaLeft, err := s.quotaBody(ctx, repo, u.Offset, body)
	if err != nil {
		return nil, err
	}
	w, err := s.openWriter(ctx, u)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	// A long streamed PATCH saves its progress every checkpoint bytes, so a
	// crash in the middle of a large layer costs at most that much.
	for {
		n, copyErr := s.copyBody(ctx, w, io.LimitReader(body, checkpoint))
		if err := s.uploadOverQuota(ctx, repo, w.Size(), quotaLeft); err != nil {
			s.discard(ctx, w, u.ID) // refused: nothing of it stays
			return nil, err
		}
		if errors.Is(copyErr, errdefs.ErrTooLarge) {
			// Refused bytes are not kept: the session stays at its last
			// saved state and the next resume cuts the rest off.
			return u, copyErr
		}
		nu, err := s.saveProgress(ctx, u, w)
		if err != nil {
			return nil, errors.Join(copyErr, err)
		}
		u = nu
		if copyErr != nil || n < checkpoint {
			return u, copyErr
		}
	}
}

// checkpoint is how many bytes of one request an upload receives between
// saves of its progress.
const checkpoint = 64 << 20

// CompleteUpload writes an optional last chunk, verifies the whole upload
// against dgst, stores it and links it into the repository. start is where
// the last chunk claims to begin, or negative when unstated. A digest
// mismatch cancels the upload.
func (s *Service) CompleteUpload(ctx context.Context, repo, id string, dgst digest.Digest, start int64, body io.Reader) (b *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "complete upload %s in %s", id, repo)
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return nil, err
	}
	if start >= 0 && start != u.Offset {
		return nil, &RangeError{Offset: u.Offset, Start: start}
	}
	w, err := s.openWriter(ctx, u)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if body != nil {
		if _, err := s.copyBody(ctx, w, body); err != nil {
			if !errors.Is(err, errdefs.ErrTooLarge) {
				// Keep what arrived so the client can resume.
				_, _ = s.saveProgress(ctx, u, w)
			}
			return nil, err
		}
	}
	if err := s.precheckBlob(ctx, repo, dgst, w.Size()); err != nil {
		if errdefs.IsDenied(err) {
			s.discard(ctx, w, u.ID)
		}
		return nil, err
	}
	info, err := s.commit(ctx, w, dgst)
	if err != nil {
		if errdefs.IsInvalid(err) {
			s.discard(ctx, w, u.ID)
		}
		return nil, err
	}
	return s.recordBlob(ctx, repo, u.RepositoryID, info, u.ID)
}

// PutBlob stores body as blob dgst in repository repo in one request
// (monolithic POST with digest=). No session row is written: the expiry
// job removes the data of an upload interrupted by a crash.
func (s *Service) PutBlob(ctx context.Context, repo string, dgst digest.Digest, body io.Reader) (b *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "put blob %s in %s", dgst, repo)
	r, err := s.ensureRepository(ctx, repo)
	if err != nil {
		return nil, err
	}
	w, err := s.blobs.NewWriter(ctx, uuid.NewString())
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = w.Cancel(context.WithoutCancel(ctx))
		}
		_ = w.Close()
	}()
	if _, err := s.copyBody(ctx, w, body); err != nil {
		return nil, err
	}
	if err := s.precheckBlob(ctx, repo, dgst, w.Size()); err != nil {
		return nil, err
	}
	info, err := s.commit(ctx, w, dgst)
	if err != nil {
		return nil, err
	}
	return s.recordBlob(ctx, repo, r.ID, info, "")
}

// CancelUpload discards session id of repository repo and its data.
func (s *Service) CancelUpload(ctx context.Context, repo, id string) (err error) {
	defer errdefs.Wrapf(&err, "cancel upload %s in %s", id, repo)
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return err
	}
	return s.abort(ctx, u)
}

// ExpireUploads removes up to limit sessions idle past their expiry, with
// their data, and returns how many it removed.
func (s *Service) ExpireUploads(ctx context.Context, limit int) (int, error) {
	expired, err := s.meta.ListExpiredUploads(ctx, s.now(), limit)
	if err != nil {
		return 0, fmt.Errorf("list expired uploads: %w", err)
	}
	n := 0
	for i := range expired {
		u := &expired[i]
		unlock := s.locks.lock(u.ID)
		err := s.abort(ctx, u)
		unlock()
		if err != nil && !errdefs.IsNotFound(err) {
			return n, fmt.Errorf("expire upload %s: %w", u.ID, err)
		}
		n++
	}
	return n, nil
}

// SweepOrphanUploads removes upload data that has no session row and has
// not changed for the upload expiry period: what a crash leaves between a
// writer's creation and its first saved state, or of a monolithic upload.
// It needs a blob store that can list its uploads (blob.UploadLister).
func (s *Service) SweepOrphanUploads(ctx context.Context) (int, error) {
	l, ok := s.blobs.(blob.UploadLister)
	if !ok {
		return 0, nil
	}
	cutoff := s.now().Add(-s.opts.UploadExpiry)
	var stale []string
	err := l.ListUploads(ctx, func(id string, modified time.Time) error {
		if modified.Before(cutoff) {
			stale = append(stale, id)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list upload data: %w", err)
	}
	n := 0
	for _, id := range stale {
		removed, err := s.sweepOrphan(ctx, id)
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	return n, nil
}

func (s *Service) sweepOrphan(ctx context.Context, id string) (bool, error) {
	unlock := s.locks.lock(id)
	defer unlock()
	if _, err := s.meta.GetUpload(ctx, id); !errdefs.IsNotFound(err) {
		// A session owns it (its own expiry applies), or the store failed.
		return false, err
	}
	if err := s.blobs.AbortUpload(ctx, id, nil); err != nil {
		return false, fmt.Errorf("remove orphaned upload data %s: %w", id, err)
	}
	return true, nil
}

func (s *Service) abort(ctx context.Context, u *meta.Upload) error {
	if err := s.blobs.AbortUpload(ctx, u.ID, u.State); err != nil {
		return fmt.Errorf("discard upload data: %w", err)
	}
	return s.meta.DeleteUpload(ctx, u.ID)
}

// openWriter opens the blob writer for session u: new if it has no saved
// state yet. Data without a saved state is what a crash left before the
// first save; nothing was acknowledged, so it is discarded.
func (s *Service) openWriter(ctx context.Context, u *meta.Upload) (blob.Writer, error) {
	if u.State != nil {
		return s.blobs.ResumeWriter(ctx, u.ID, u.State)
	}
	w, err := s.blobs.NewWriter(ctx, u.ID)
	if errdefs.IsAlreadyExists(err) {
		if err := s.blobs.AbortUpload(ctx, u.ID, nil); err != nil {
			return nil, err
		}
		w, err = s.blobs.NewWriter(ctx, u.ID)
	}
	return w, err
}

// copyBody streams body into w, enforcing the blob size limit. A body
// that ends early (the client hung up) is an ErrInvalid error; what was
// written stays in w.
func (s *Service) copyBody(ctx context.Context, w blob.Writer, body io.Reader) (int64, error) {
	src := &bodyReader{ctx: ctx, r: body}
	var (
		n   int64
		err error
	)
	if s.opts.MaxBlobBytes > 0 {
		room := s.opts.MaxBlobBytes - w.Size()
		n, err = copyChunks(w, io.LimitReader(src, room+1))
		if err == nil && w.Size() > s.opts.MaxBlobBytes {
			return n, errdefs.TooLarge("blob exceeds the %d-byte limit of this registry", s.opts.MaxBlobBytes)
		}
	} else {
		n, err = copyChunks(w, src)
	}
	if err != nil && src.err != nil && errors.Is(err, src.err) && ctx.Err() == nil {
		return n, errdefs.Wrap(errdefs.ErrInvalid, src.err, "the request body ended after %d bytes (ask for the upload's offset and resume)", n)
	}
	return n, err
}

// saveProgress makes w's data durable and records the new offset, guarded
// by the offset the session had when w was opened.
func (s *Service) saveProgress(ctx context.Context, u *meta.Upload, w blob.Writer) (*meta.Upload, error) {
	if w.Size() == u.Offset && u.State != nil {
		return u, nil
	}
	// A failed request must still record what arrived, even if its context
	// is done.
	ctx = context.WithoutCancel(ctx)
	if err := w.Flush(ctx); err != nil {
		return nil, err
	}
	state, err := w.State()
	if err != nil {
		return nil, err
	}
	now := s.now()
	nu := *u
	nu.Offset, nu.State, nu.UpdatedAt, nu.ExpiresAt = w.Size(), state, now, now.Add(s.opts.UploadExpiry)
	if err := s.meta.UpdateUpload(ctx, &nu, u.Offset); err != nil {
		return nil, err
	}
	return &nu, nil
}

// commit verifies and stores w's data as dgst, translating a mismatch into
// a DigestMismatchError.
func (s *Service) commit(ctx context.Context, w blob.Writer, dgst digest.Digest) (blob.Info, error) {
	if err := dgst.Validate(); err != nil {
		return blob.Info{}, errdefs.Invalid("digest %q: %v", dgst, err)
	}
	if err := s.leaseForCommit(ctx, dgst); err != nil {
		return blob.Info{}, err
	}
	info, err := w.Commit(ctx, dgst, -1)
	if err != nil {
		if errdefs.IsInvalid(err) {
			return blob.Info{}, &DigestMismatchError{Expected: dgst}
		}
		return blob.Info{}, err
	}
	return info, nil
}

// recordBlob records a committed blob, links it into the repository repo
// (ID repoID), leases it until a manifest references it, and ends session
// uploadID (if any), in one transaction, unless the project's quota
// refuses the link (then the session ends and the bytes are left to
// garbage collection).
func (s *Service) recordBlob(ctx context.Context, repo string, repoID int64, info blob.Info, uploadID string) (*meta.Blob, error) {
	b := meta.Blob{Digest: info.Digest, Size: info.Size, CreatedAt: s.now()}
	quotaProject, err := s.quotaProject(ctx, repo)
	if err != nil {
		return nil, err
	}
	err = s.meta.WithTx(context.WithoutCancel(ctx), func(tx meta.Querier) error {
		if err := s.blobQuotaTx(ctx, tx, quotaProject, b.Digest, b.Size); err != nil {
			return err
		}
		if err := tx.PutBlob(ctx, b); err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, repoID, b.Digest); err != nil {
			return err
		}
		if err := tx.LeaseBlob(ctx, b.Digest, s.now().Add(s.opts.BlobLease)); err != nil {
			return err
		}
		if uploadID != "" {
			if err := tx.DeleteUpload(ctx, uploadID); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
	if errdefs.IsDenied(err) {
		s.refusedAfterCommit(ctx, b.Digest, b.Size)
		if uploadID != "" {
			_ = s.meta.DeleteUpload(context.WithoutCancel(ctx), uploadID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("record blob: %w", err)
	}
	if s.gc != nil {
		// A tombstone of an earlier collection is moot now; the sweeper
		// would also drop it on finding the blob recorded.
		if err := s.gc.ClearTombstone(context.WithoutCancel(ctx), b.Digest); err != nil {
			s.log.WarnContext(ctx, "clear garbage collection tombstone", "digest", b.Digest, "err", err)
		}
	}
	return &b, nil
}

// discard removes an upload whose data failed verification.
func (s *Service) discard(ctx context.Context, w blob.Writer, id string) {
	ctx = context.WithoutCancel(ctx)
	if err := w.Cancel(ctx); err != nil {
		s.log.WarnContext(ctx, "discard upload data", "upload", id, "err", err)
	}
	if err := s.meta.DeleteUpload(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		s.log.WarnContext(ctx, "delete upload session", "upload", id, "err", err)
	}
}

// bodyReader stops a copy when ctx is done and remembers a read error, so
// a client that hung up is told apart from a storage failure.
type bodyReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}
