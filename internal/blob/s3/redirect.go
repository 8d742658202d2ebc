package s3

import (
	"context"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// RedirectURL returns a presigned URL from which a client can fetch dgst
// straight from the bucket with method (GET or HEAD), valid for
// Options.RedirectExpiry. It returns "" when Options.Redirect is off (the
// default) or for another method, an ErrNotFound error if dgst is not
// stored and an ErrInvalid error if it is malformed. It always reads the
// index (one HEAD) rather than the cache, so a URL never names a data
// object another replica deleted. Presigning itself makes no request.
func (s *Store) RedirectURL(ctx context.Context, dgst digest.Digest, method string) (string, error) {
	if !s.opts.Redirect || (method != http.MethodGet && method != http.MethodHead) {
		if err := validateDigest(dgst); err != nil {
			return "", fmt.Errorf("redirect to blob: %w", err)
		}
		return "", nil
	}
	e, _, err := s.headIndex(ctx, dgst)
	if err != nil {
		return "", fmt.Errorf("redirect to blob: %w", err)
	}
	u, err := s.core.Presign(ctx, method, s.cfg.Bucket, e.key, s.opts.RedirectExpiry, nil)
	if err != nil {
		return "", errdefs.Unavailable("redirect to blob %s: presign URL: %s", dgst, s.scrub(err.Error()))
	}
	return u.String(), nil
}
