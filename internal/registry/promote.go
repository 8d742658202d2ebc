package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/manifest"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/opencontainers/go-digest"
)

// PromoteRequest asks for an artifact to be promoted.
type PromoteRequest struct {
	// Source is "repository@digest" or "repository:tag".
	Source string
	// Destination is "repository:tag", in the same or another repository
	// or project.
	Destination string
}

// Promotion is the outcome of a promotion: the stored record, and what the
// destination tag pointed at before.
type Promotion struct {
	meta.Promotion
	// Previous is the digest the destination tag pointed at before the
	// promotion moved it, or "" when the tag was new or already pointed at
	// the promoted digest.
	Previous digest.Digest
}

// SplitReference splits "repository@digest" or "repository:tag" into the
// repository name and the reference (the digest or tag), validating both.
func SplitReference(s string) (repo, reference string, err error) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		repo, reference = s[:i], s[i+1:]
	} else if i, slash := strings.LastIndexByte(s, ':'), strings.LastIndexByte(s, '/'); i > slash {
		repo, reference = s[:i], s[i+1:]
	} else {
		return "", "", errdefs.Invalid("%q names no tag or digest; write repository:tag or repository@digest", s)
	}
	if err := ref.ValidRepository(repo); err != nil {
		return "", "", err
	}
	if _, _, err := ref.ParseReference(reference); err != nil {
		return "", "", err
	}
	return repo, reference, nil
}

// promotedArtifact is everything a promotion copies, read from the source
// repository inside the promotion's transaction.
type promotedArtifact struct {
	root *meta.Manifest
	// manifests are the rows to store, children before the index that
	// names them and subjects before their referrers.
	manifests []*meta.Manifest
	refs      map[digest.Digest][]meta.Reference
	// blobs are the blobs the manifests need, each once, with their sizes.
	blobs               []digest.Digest
	sizes               map[digest.Digest]int64
	children, referrers int
}

// Promote makes the artifact req.Source names available as req.Destination
// without copying blob data: in one metadata transaction it links every
// blob the artifact needs (config and layers of the manifest, of every
// child of an index, recursively, and of every referrer — manifests whose
// subject is the artifact or one of its children, recursively) into the
// destination repository (created if missing), stores the manifests, points
// the destination tag at the artifact, sets the tag's age to now even when
// it already pointed there (a promotion counts as a fresh push for
// retention) and records the promotion, by the principal in ctx.
//
// The caller authorizes: pull on the source, push on the destination.
// Errors: a source that does not exist is ErrNotFound; moving an immutable
// destination tag to another digest is ErrDenied naming the rule (and
// leaves nothing behind); a store without promotion records is
// ErrUnsupported.
func (s *Service) Promote(ctx context.Context, req PromoteRequest) (res *Promotion, err error) {
	defer errdefs.Wrapf(&err, "promote %s to %s", req.Source, req.Destination)
	srcRepo, srcRef, err := SplitReference(req.Source)
	if err != nil {
		return nil, err
	}
	dstRepo, dstTag, err := SplitReference(req.Destination)
	if err != nil {
		return nil, err
	}
	if err := ref.ValidTag(dstTag); err != nil {
		return nil, errdefs.Invalid("the destination must be repository:tag: %v", err)
	}
	ps, ok := meta.PromotionOf(s.meta)
	if !ok {
		return nil, errdefs.Unsupported("this metadata store keeps no promotion records")
	}
	src, err := s.repository(ctx, srcRepo)
	if err != nil {
		return nil, err
	}
	rules, err := s.immutableRules(ctx, dstRepo)
	if err != nil {
		return nil, err
	}
	now := s.now()
	by := access.PrincipalFrom(ctx).Name
	var dstID int64
	err = ps.WithTx(ctx, func(tx meta.Querier) error {
		res = nil // a retried transaction starts over
		art, err := s.collectArtifact(ctx, tx, src.ID, srcRef)
		if err != nil {
			return err
		}
		dst, err := tx.EnsureRepository(ctx, dstRepo)
		if err != nil {
			return err
		}
		dstID = dst.ID
		if err := s.copyArtifact(ctx, tx, src.ID, dst, art, by); err != nil {
			return err
		}
		if err := checkTagMoves(ctx, tx, dst.ID, rules, []string{dstTag}, art.root.Digest); err != nil {
			return err
		}
		prev, err := tx.PutTag(ctx, dst.ID, dstTag, art.root.Digest)
		if err != nil {
			return err
		}
		w, ok := tx.(meta.PromotionWriter)
		if !ok {
			return fmt.Errorf("the transaction of %T offers no promotion writes", ps)
		}
		if err := w.TouchTag(ctx, dst.ID, dstTag, now); err != nil {
			return err
		}
		res = &Promotion{Promotion: meta.Promotion{
			Digest:           art.root.Digest,
			SourceRepository: srcRepo, SourceProject: access.ProjectOf(srcRepo), SourceReference: srcRef,
			DestinationRepository: dstRepo, DestinationProject: access.ProjectOf(dstRepo), Tag: dstTag,
			PromotedBy: by, PromotedAt: now, Children: art.children, Referrers: art.referrers,
		}}
		if prev != art.root.Digest {
			res.Previous = prev
		}
		return w.PutPromotion(ctx, &res.Promotion)
	})
	if dstID != 0 {
		// The writes went to the backend directly: cached readers must
		// forget the tag (as the manifest PUT path's WithTx makes them).
		meta.InvalidateAbove(s.meta, ps, meta.Change{RepositoryID: dstID, Tag: dstTag})
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// collectArtifact reads, in tx, the manifest srcRef names in repository
// srcID with its children and referrers, recursively.
func (s *Service) collectArtifact(ctx context.Context, tx meta.Querier, srcID int64, srcRef string) (*promotedArtifact, error) {
	tag, dgst, err := ref.ParseReference(srcRef)
	if err != nil {
		return nil, err
	}
	var root *meta.Manifest
	if tag != "" {
		root, err = tx.GetTaggedManifest(ctx, srcID, tag, true)
	} else {
		root, err = tx.GetManifest(ctx, srcID, dgst, true)
	}
	if err != nil {
		return nil, err
	}
	art := &promotedArtifact{root: root, refs: map[digest.Digest][]meta.Reference{}, sizes: map[digest.Digest]int64{}}
	if err := s.addManifest(ctx, tx, srcID, art, root, false); err != nil {
		return nil, err
	}
	// Referrers of everything collected so far, and of the referrers
	// themselves (a signature of an SBOM), until nothing new appears.
	for i := 0; i < len(art.manifests); i++ {
		referrers, err := tx.ListReferrers(ctx, srcID, art.manifests[i].Digest, "")
		if err != nil {
			return nil, err
		}
		for _, r := range referrers {
			if _, seen := art.refs[r.Digest]; seen {
				continue
			}
			m, err := tx.GetManifest(ctx, srcID, r.Digest, true)
			if err != nil {
				return nil, err
			}
			art.referrers++
			if err := s.addManifest(ctx, tx, srcID, art, m, true); err != nil {
				return nil, err
			}
		}
	}
	return art, nil
}

// addManifest adds m and, first, its children (recursively) to art. Children
// of a referrer count as part of the referrer, not as the artifact's.
func (s *Service) addManifest(ctx context.Context, tx meta.Querier, srcID int64, art *promotedArtifact, m *meta.Manifest, ofReferrer bool) error {
	if _, seen := art.refs[m.Digest]; seen {
		return nil
	}
	parsed, err := manifest.Parse(m.MediaType, m.Content)
	if err != nil {
		return fmt.Errorf("stored manifest %s: %w", m.Digest, err)
	}
	art.refs[m.Digest] = nil // mark before recursing: no cycles
	for _, c := range parsed.Children() {
		child, err := tx.GetManifest(ctx, srcID, c.Digest, true)
		if err != nil {
			return fmt.Errorf("child %s of %s: %w", c.Digest, m.Digest, err)
		}
		if _, seen := art.refs[child.Digest]; !seen && !ofReferrer {
			art.children++
		}
		if err := s.addManifest(ctx, tx, srcID, art, child, ofReferrer); err != nil {
			return err
		}
	}
	row, refs := s.manifestRow(parsed, m.Digest, m.Content)
	art.refs[m.Digest] = refs
	art.manifests = append(art.manifests, row)
	for _, r := range refs {
		if _, ok := art.sizes[r.Digest]; r.Kind == meta.RefBlob && !ok {
			art.sizes[r.Digest] = r.Size
			art.blobs = append(art.blobs, r.Digest)
		}
	}
	return nil
}

// copyArtifact links art's blobs into repository dst and stores its
// manifests there, recorded as pushed by `by` now, after the destination
// project's quota allowed what it adds. A blob the source no longer links
// (garbage collection swept it) stops the promotion: linking only blobs the
// source links, in the transaction that makes manifests reference them,
// keeps the sweeper from deleting a blob the destination is about to name
// (as MountBlob does); a blob row swept meanwhile fails LinkBlob.
func (s *Service) copyArtifact(ctx context.Context, tx meta.Querier, srcID int64, dst *meta.Repository, art *promotedArtifact, by string) error {
	var newLinks []digest.Digest
	if len(art.blobs) > 0 {
		gone, err := tx.MissingLinks(ctx, srcID, art.blobs)
		if err != nil {
			return err
		}
		if len(gone) > 0 {
			return errdefs.NotFound("blob %s of the artifact is no longer available in the source repository", gone[0])
		}
		if newLinks, err = tx.MissingLinks(ctx, dst.ID, art.blobs); err != nil {
			return err
		}
	}
	all := make([]digest.Digest, 0, len(art.manifests))
	for _, m := range art.manifests {
		all = append(all, m.Digest)
	}
	newManifests, err := tx.MissingManifests(ctx, dst.ID, all)
	if err != nil {
		return err
	}
	if err := s.promoteQuota(ctx, tx, access.ProjectOf(dst.Name), art, newLinks, newManifests); err != nil {
		return err
	}
	for _, d := range newLinks {
		if err := tx.LinkBlob(ctx, dst.ID, d); err != nil {
			return err
		}
	}
	for _, m := range art.manifests {
		row := *m
		row.RepositoryID, row.PushedBy = dst.ID, by
		if err := tx.PutManifest(ctx, &row, art.refs[m.Digest]); err != nil {
			return err
		}
	}
	return nil
}

// promoteQuota asks the destination project's quota, inside the
// promotion's transaction and after locking it, whether it may take what
// the promotion adds: the blobs and manifests new to the destination
// repository that no other repository of the project already holds (stored
// bytes count each digest once per project), and the new manifests that
// are not a child of another manifest of the artifact (artifacts, as a
// push counts them).
func (s *Service) promoteQuota(ctx context.Context, tx meta.Querier, project string, art *promotedArtifact, newLinks, newManifests []digest.Digest) error {
	return s.quotaTx(ctx, tx, project, func(qq meta.QuotaQuerier) (quotaDelta, error) {
		var d quotaDelta
		for _, dg := range newLinks {
			has, err := qq.ProjectHasBlob(ctx, project, dg)
			if err != nil {
				return d, err
			}
			if !has {
				d.stored += art.sizes[dg]
			}
		}
		children := make(map[digest.Digest]bool)
		for _, refs := range art.refs {
			for _, r := range refs {
				if r.Kind == meta.RefManifest {
					children[r.Digest] = true
				}
			}
		}
		sizes := make(map[digest.Digest]int64, len(art.manifests))
		for _, m := range art.manifests {
			sizes[m.Digest] = m.Size
		}
		for _, dg := range newManifests {
			if !children[dg] {
				d.artifacts++
			}
			has, err := qq.ProjectHasManifest(ctx, project, dg)
			if err != nil {
				return d, err
			}
			if !has {
				d.stored += sizes[dg]
			}
		}
		return d, nil
	})
}
