package registry

import (
	"context"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ListTags returns up to n tags of repository repo after last, in byte
// order, and whether more follow. An unknown repository is ErrNotFound.
func (s *Service) ListTags(ctx context.Context, repo, last string, n int) (tags []string, more bool, err error) {
	defer errdefs.Wrapf(&err, "list tags of %s", repo)
	r, err := s.repository(ctx, repo)
	if err != nil {
		return nil, false, err
	}
	if n <= 0 {
		return []string{}, false, nil
	}
	tags, err = s.meta.ListTags(ctx, r.ID, last, n+1)
	if err != nil {
		return nil, false, err
	}
	if tags == nil {
		tags = []string{} // a JSON array, never null
	}
	if len(tags) > n {
		return tags[:n], true, nil
	}
	return tags, false, nil
}

// ListRepositories returns up to n repository names after last, in byte
// order, and whether more follow.
func (s *Service) ListRepositories(ctx context.Context, last string, n int) (names []string, more bool, err error) {
	defer errdefs.Wrapf(&err, "list repositories")
	if n <= 0 {
		return []string{}, false, nil
	}
	names, err = s.meta.ListRepositories(ctx, last, n+1)
	if err != nil {
		return nil, false, err
	}
	if names == nil {
		names = []string{}
	}
	if len(names) > n {
		return names[:n], true, nil
	}
	return names, false, nil
}

// visibleBatch is the fewest names ListVisibleRepositories reads per query.
var visibleBatch = 256

// ListVisibleRepositories is ListRepositories for a caller who may see only
// some repositories: it returns up to n names after last, in byte order, for
// which visible is true, and whether more visible names follow. It reads
// the store a page at a time and filters each page, so a caller who sees
// few repositories still gets full pages, and a page after last resumes
// where the previous one ended whatever was filtered out.
func (s *Service) ListVisibleRepositories(ctx context.Context, last string, n int, visible func(repo string) bool) (names []string, more bool, err error) {
	defer errdefs.Wrapf(&err, "list repositories")
	names = []string{}
	if n <= 0 {
		return names, false, nil
	}
	// One more than the caller wants tells whether more follow; reading at
	// least a few hundred names per query keeps the number of round trips
	// low when most names are filtered out.
	batch := max(n+1, visibleBatch)
	after := last
	for {
		page, err := s.meta.ListRepositories(ctx, after, batch)
		if err != nil {
			return nil, false, err
		}
		for _, name := range page {
			if !visible(name) {
				continue
			}
			if len(names) == n {
				return names, true, nil
			}
			names = append(names, name)
		}
		if len(page) < batch {
			return names, false, nil
		}
		after = page[len(page)-1]
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
	}
}

// Referrers returns descriptors of the manifests in repository repo whose
// subject is subject, filtered to artifactType when it is not "". An
// unknown repository has no referrers (the spec forbids a 404 here).
func (s *Service) Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string) (descs []v1.Descriptor, err error) {
	defer errdefs.Wrapf(&err, "referrers of %s in %s", subject, repo)
	descs = []v1.Descriptor{}
	r, err := s.repository(ctx, repo)
	if errdefs.IsNotFound(err) {
		return descs, nil
	}
	if err != nil {
		return nil, err
	}
	ms, err := s.meta.ListReferrers(ctx, r.ID, subject, artifactType)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		descs = append(descs, v1.Descriptor{
			MediaType:    m.MediaType,
			ArtifactType: m.ArtifactType,
			Digest:       m.Digest,
			Size:         m.Size,
			Annotations:  m.Annotations,
		})
	}
	return descs, nil
}
