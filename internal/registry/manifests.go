package registry

import (
	"context"
	"slices"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/manifest"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ManifestPut is a manifest push.
type ManifestPut struct {
	// Repository is the repository name.
	Repository string
	// Reference is the tag or digest in the URL.
	Reference string
	// ContentType is the request's Content-Type.
	ContentType string
	// Body is the manifest exactly as sent.
	Body []byte
	// Tags are further tags to point at the manifest (the tag= query
	// parameters of a push by digest).
	Tags []string
}

// ManifestPushed describes a stored manifest.
type ManifestPushed struct {
	Digest  digest.Digest
	Subject digest.Digest
	// Tags are the tags now pointing at it from this push.
	Tags []string
	// Previous maps each tag of Tags that moved (pointed at another
	// manifest before this push) to the digest it pointed at. Tags that are
	// new or already pointed here are absent.
	Previous map[string]digest.Digest
}

// PutManifest validates and stores a manifest, and points its tags at it,
// in one transaction. Every blob and child manifest it names must already
// be in the repository (MissingReferencesError); a push by digest must
// match the body (DigestMismatchError). Moving an immutable tag to another
// manifest is refused (ErrDenied naming the rule); pushing the manifest an
// immutable tag already points at again is not an error. The manifest is
// recorded as pushed by the principal in ctx (access.PrincipalFrom; "" when anonymous).
func (s *Service) PutManifest(ctx context.Context, p ManifestPut) (res *ManifestPushed, err error) {
	defer errdefs.Wrapf(&err, "put manifest %s:%s", p.Repository, p.Reference)
	if err := ref.ValidRepository(p.Repository); err != nil {
		return nil, err
	}
	if int64(len(p.Body)) > s.opts.MaxManifestBytes {
		return nil, errdefs.TooLarge("manifest is %d bytes, over the %d-byte limit", len(p.Body), s.opts.MaxManifestBytes)
	}
	tag, want, err := ref.ParseReference(p.Reference)
	if err != nil {
		return nil, err
	}
	tags := slices.Clone(p.Tags)
	if tag != "" {
		tags = append([]string{tag}, tags...)
	}
	for _, t := range tags {
		if err := ref.ValidTag(t); err != nil {
			return nil, err
		}
	}
	slices.Sort(tags)
	tags = slices.Compact(tags)
	alg := digest.Canonical
	if want != "" {
		alg = want.Algorithm()
	}
	dgst := alg.FromBytes(p.Body)
	if want != "" && dgst != want {
		return nil, &DigestMismatchError{Expected: want, Actual: dgst}
	}
	m, err := manifest.Parse(p.ContentType, p.Body)
	if err != nil {
		return nil, err
	}
	row, refs := s.manifestRow(m, dgst, p.Body)
	row.PushedBy = access.PrincipalFrom(ctx).Name
	rules, err := s.immutableRules(ctx, p.Repository)
	if err != nil {
		return nil, err
	}
	quotaProject, err := s.quotaProject(ctx, p.Repository)
	if err != nil {
		return nil, err
	}
	var previous map[string]digest.Digest
	err = s.meta.WithTx(ctx, func(tx meta.Querier) error {
		previous = nil // a retried transaction starts over
		repo, err := tx.EnsureRepository(ctx, p.Repository)
		if err != nil {
			return err
		}
		row.RepositoryID = repo.ID
		if err := checkReferences(ctx, tx, repo.ID, m); err != nil {
			return err
		}
		if err := s.manifestQuotaTx(ctx, tx, quotaProject, row, refs); err != nil {
			return err
		}
		if err := tx.PutManifest(ctx, row, refs); err != nil {
			return err
		}
		if err := checkTagMoves(ctx, tx, repo.ID, rules, tags, dgst); err != nil {
			return err
		}
		for _, t := range tags {
			prev, err := tx.PutTag(ctx, repo.ID, t, dgst)
			if err != nil {
				return err
			}
			if prev != "" && prev != dgst {
				if previous == nil {
					previous = make(map[string]digest.Digest)
				}
				previous[t] = prev
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if hook := s.onPut.Load(); hook != nil {
		(*hook)(ctx, p.Repository, dgst)
	}
	return &ManifestPushed{Digest: dgst, Subject: row.Subject, Tags: tags, Previous: previous}, nil
}

// OnManifestPut sets fn to be called after each manifest push commits,
// with the repository and the manifest's digest (scan on push uses it). fn
// runs on the pushing request's goroutine, so it must be quick and must not
// fail the push. Set it before serving.
func (s *Service) OnManifestPut(fn func(ctx context.Context, repo string, dgst digest.Digest)) {
	s.onPut.Store(&fn)
}

// checkTagMoves refuses (ErrDenied) to move an immutable tag of tags to
// dgst. It reads each immutable tag inside the transaction that moves it,
// so a racing push cannot slip between the check and the move; a tag that
// is new or already points at dgst is not moved and passes.
func checkTagMoves(ctx context.Context, tx meta.Querier, repoID int64, rules ruleSet, tags []string, dgst digest.Digest) error {
	for _, t := range tags {
		r := rules.match(t)
		if r == nil {
			continue
		}
		cur, err := tx.GetTag(ctx, repoID, t)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if cur.Digest != dgst {
			return rules.deny(t, r)
		}
	}
	return nil
}

// manifestRow builds the stored row and reference edges of a parsed
// manifest.
func (s *Service) manifestRow(m *manifest.Manifest, dgst digest.Digest, body []byte) (*meta.Manifest, []meta.Reference) {
	row := &meta.Manifest{
		Digest:       dgst,
		MediaType:    m.MediaType,
		ArtifactType: m.ArtifactType,
		Size:         int64(len(body)),
		Annotations:  m.Annotations,
		Content:      body,
		PushedAt:     s.now(),
	}
	if m.Subject != nil {
		row.Subject = m.Subject.Digest
	}
	if m.Config != nil {
		row.ConfigDigest = m.Config.Digest
	}
	var refs []meta.Reference
	add := func(d v1.Descriptor, kind meta.RefKind) {
		for _, r := range refs {
			if r.Digest == d.Digest && r.Kind == kind {
				return
			}
		}
		refs = append(refs, meta.Reference{Digest: d.Digest, Kind: kind, Size: d.Size})
	}
	for _, d := range m.RequiredBlobs() {
		add(d, meta.RefBlob)
	}
	for _, d := range m.Children() {
		add(d, meta.RefManifest)
	}
	return row, refs
}

// checkReferences enforces rule 1: everything a manifest names is in its
// repository before the manifest is stored.
func checkReferences(ctx context.Context, tx meta.Querier, repoID int64, m *manifest.Manifest) error {
	var blobs, children []digest.Digest
	for _, d := range m.RequiredBlobs() {
		blobs = append(blobs, d.Digest)
	}
	for _, d := range m.Children() {
		children = append(children, d.Digest)
	}
	missing := &MissingReferencesError{}
	var err error
	if len(blobs) > 0 {
		if missing.Blobs, err = tx.MissingLinks(ctx, repoID, blobs); err != nil {
			return err
		}
	}
	if len(children) > 0 {
		if missing.Manifests, err = tx.MissingManifests(ctx, repoID, children); err != nil {
			return err
		}
	}
	if len(missing.Blobs) > 0 || len(missing.Manifests) > 0 {
		return missing
	}
	return nil
}

// GetManifest returns the manifest reference (tag or digest) names in
// repository repo, with its content when withContent.
func (s *Service) GetManifest(ctx context.Context, repo, reference string, withContent bool) (m *meta.Manifest, err error) {
	defer errdefs.Wrapf(&err, "manifest %s:%s", repo, reference)
	tag, dgst, err := ref.ParseReference(reference)
	if err != nil {
		return nil, err
	}
	r, err := s.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	defer s.notePullOf(r.ID, withContent, &m, &err)
	if tag != "" {
		return s.meta.GetTaggedManifest(ctx, r.ID, tag, withContent)
	}
	return s.meta.GetManifest(ctx, r.ID, dgst, withContent)
}

// DeleteManifest deletes by reference: a tag deletes only the tag; a digest
// deletes the manifest and every tag pointing at it. A manifest that an
// index in the repository still names cannot be deleted (ErrConflict).
// Deleting an immutable tag, directly or with its manifest, is refused
// (ErrDenied naming the rule).
func (s *Service) DeleteManifest(ctx context.Context, repo, reference string) (err error) {
	defer errdefs.Wrapf(&err, "delete manifest %s:%s", repo, reference)
	tag, dgst, err := ref.ParseReference(reference)
	if err != nil {
		return err
	}
	r, err := s.repository(ctx, repo)
	if err != nil {
		return err
	}
	rules, err := s.immutableRules(ctx, repo)
	if err != nil {
		return err
	}
	if tag != "" {
		if rule := rules.match(tag); rule != nil {
			// Say "not found" for a tag that does not exist, as without
			// the rule.
			if _, err := s.meta.GetTag(ctx, r.ID, tag); err != nil {
				return err
			}
			return rules.deny(tag, rule)
		}
		_, err := s.meta.DeleteTag(ctx, r.ID, tag)
		return err
	}
	err = s.meta.WithTx(ctx, func(tx meta.Querier) error {
		if _, err := tx.GetManifest(ctx, r.ID, dgst, false); err != nil {
			return err
		}
		parents, err := tx.ListManifestParents(ctx, r.ID, dgst)
		if err != nil {
			return err
		}
		if len(parents) > 0 {
			return errdefs.Conflict("manifest is part of index %s; delete the index first", parents[0])
		}
		tags, err := tx.ListTagsOf(ctx, r.ID, dgst)
		if err != nil {
			return err
		}
		for _, t := range tags {
			if err := rules.check(t); err != nil {
				return err
			}
		}
		for _, t := range tags {
			if _, err := tx.DeleteTag(ctx, r.ID, t); err != nil {
				return err
			}
		}
		return tx.DeleteManifest(ctx, r.ID, dgst)
	})
	if err != nil {
		return err
	}
	if hook := s.onDelete.Load(); hook != nil {
		(*hook)(ctx, repo, dgst)
	}
	return nil
}

// OnManifestDelete sets fn to be called after a manifest is deleted by
// digest, with the repository and the digest (the scanner removes the SBOM
// referrers it made of it). fn runs on the deleting request's goroutine and
// must not fail the delete. Set it before serving.
func (s *Service) OnManifestDelete(fn func(ctx context.Context, repo string, dgst digest.Digest)) {
	s.onDelete.Store(&fn)
}
