package registry

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/opencontainers/go-digest"
)

// StatBlob returns the blob dgst if repository repo may serve it, else an
// ErrNotFound error.
//
// A client that saw the blob may name it in a manifest pushed shortly
// after, so StatBlob keeps the blob from garbage collection for
// Options.GCGrace: it reads the blob with its lease (one indexed read) and,
// when the lease ends within GCGrace/2, renews it to now+GCGrace in a
// transaction that re-checks the link, so at most one write per blob every
// GCGrace/2. If garbage collection deleted the blob meanwhile, the answer
// is ErrNotFound and the client uploads it again.
func (s *Service) StatBlob(ctx context.Context, repo string, dgst digest.Digest) (b *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "blob %s in %s", dgst, repo)
	r, err := s.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	if s.gc == nil {
		return s.meta.GetLinkedBlob(ctx, r.ID, dgst)
	}
	b, until, err := s.gc.LinkedBlobLease(ctx, r.ID, dgst)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if until.Sub(now) >= s.opts.GCGrace/2 {
		return b, nil
	}
	return s.gc.TouchLinkedBlob(ctx, r.ID, dgst, now.Add(s.opts.GCGrace))
}

// BlobContent is what OpenBlob returns: the blob record and either its
// content or a URL to send the client to.
type BlobContent struct {
	Blob *meta.Blob
	// Content is the blob's bytes; nil when RedirectURL is set. The caller
	// closes it.
	Content io.ReadSeekCloser
	// RedirectURL is where the client can fetch the blob directly (a blob
	// store with presigned URLs), or "".
	RedirectURL string
}

// OpenBlob returns the blob dgst of repository repo: a redirect when the
// blob store can serve it directly and allowRedirect, else its content.
func (s *Service) OpenBlob(ctx context.Context, repo string, dgst digest.Digest, allowRedirect bool) (*BlobContent, error) {
	b, err := s.StatBlob(ctx, repo, dgst)
	if err != nil {
		return nil, err
	}
	if allowRedirect {
		if r, ok := s.blobs.(blob.Redirector); ok {
			u, err := r.RedirectURL(ctx, dgst, "GET")
			if err != nil {
				return nil, fmt.Errorf("redirect for blob %s: %w", dgst, err)
			}
			if u != "" {
				return &BlobContent{Blob: b, RedirectURL: u}, nil
			}
		}
	}
	rc, err := s.blobs.Open(ctx, dgst)
	if err != nil {
		if errdefs.IsNotFound(err) {
			// The metadata says we hold it but storage does not: never
			// pretend; report it loudly and answer as unknown.
			s.log.ErrorContext(ctx, "blob recorded but missing from storage", "digest", dgst, "repository", repo)
		}
		return nil, fmt.Errorf("open blob %s: %w", dgst, err)
	}
	return &BlobContent{Blob: b, Content: rc}, nil
}

// DeleteBlob removes repository repo's link to dgst, so it no longer serves
// it. A blob that a manifest of the repository still references cannot be
// unlinked (ErrConflict): delete the manifest first. The content itself is
// left for garbage collection.
func (s *Service) DeleteBlob(ctx context.Context, repo string, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "delete blob %s in %s", dgst, repo)
	r, err := s.repository(ctx, repo)
	if err != nil {
		return err
	}
	return s.meta.WithTx(ctx, func(tx meta.Querier) error {
		users, err := tx.ListBlobUsers(ctx, r.ID, dgst, 1)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return errdefs.Conflict("blob is referenced by manifest %s; delete that manifest first", users[0])
		}
		return tx.UnlinkBlob(ctx, r.ID, dgst)
	})
}

// MountBlob links dgst into repository repo from repository from, so it
// need not be uploaded again. Without from, the source is any repository
// holding the blob that the caller may read (Options.CanMountFrom); a digest
// alone never grants access to content the caller could not pull anyway.
// It returns ErrNotFound when no allowed source holds the blob (the client
// then uploads it).
func (s *Service) MountBlob(ctx context.Context, repo, from string, dgst digest.Digest) (b *meta.Blob, err error) {
	defer errdefs.Wrapf(&err, "mount %s from %q into %s", dgst, from, repo)
	if err := ref.ValidRepository(repo); err != nil {
		return nil, err
	}
	if from == "" {
		if from, err = s.mountSource(ctx, dgst); err != nil {
			return nil, err
		}
	} else if !s.canMountFrom(ctx, from) {
		return nil, errdefs.NotFound("blob not found in a repository you may read")
	}
	src, err := s.repository(ctx, from)
	if err != nil {
		return nil, err
	}
	quotaProject, err := s.quotaProject(ctx, repo)
	if err != nil {
		return nil, err
	}
	err = s.meta.WithTx(ctx, func(tx meta.Querier) error {
		if b, err = tx.GetLinkedBlob(ctx, src.ID, dgst); err != nil {
			return err
		}
		dst, err := tx.EnsureRepository(ctx, repo)
		if err != nil {
			return err
		}
		if err := s.blobQuotaTx(ctx, tx, quotaProject, dgst, b.Size); err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, dst.ID, dgst); err != nil {
			return err
		}
		return tx.LeaseBlob(ctx, dgst, s.now().Add(s.opts.BlobLease))
	})
	return b, err
}

// mountSource picks a repository holding dgst that the caller may read.
func (s *Service) mountSource(ctx context.Context, dgst digest.Digest) (string, error) {
	names, err := s.meta.ListBlobRepositories(ctx, dgst, 100)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if s.canMountFrom(ctx, n) {
			return n, nil
		}
	}
	return "", errdefs.NotFound("no repository you may read holds the blob")
}

func (s *Service) canMountFrom(ctx context.Context, repo string) bool {
	return s.opts.CanMountFrom == nil || s.opts.CanMountFrom(ctx, repo)
}
