package sync

import (
	"context"
	"fmt"
	"mime"
	"os"
	"strings"

	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/manifest"
	"github.com/berth-registry/berth/internal/ref"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Layer media types that hold OSV data whatever their title.
const (
	mediaTypeZip     = "application/zip"
	mediaTypeJSON    = "application/json"
	mediaTypeOSVJSON = "application/vnd.osv+json"
)

// artifactSource is the artifact source and what its last successful sync
// imported.
type artifactSource struct {
	repo, tag string
	last      digest.Digest
}

// name is the source name of the artifact's records.
func (a *artifactSource) name() string { return "oci:" + a.repo + ":" + a.tag }

// ParseArtifact splits a scan.sync_artifact value, "repository:tag", and
// checks both parts. A missing tag or a digest reference is ErrInvalid.
func ParseArtifact(s string) (repo, tag string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.Contains(s, "@") {
		return "", "", errdefs.Invalid("vulnerability sync artifact %q: want repository:tag", s)
	}
	repo, tag = s[:i], s[i+1:]
	if err := ref.ValidRepository(repo); err != nil {
		return "", "", fmt.Errorf("vulnerability sync artifact %q: %w", s, err)
	}
	if err := ref.ValidTag(tag); err != nil {
		return "", "", fmt.Errorf("vulnerability sync artifact %q: %w", s, err)
	}
	return repo, tag, nil
}

// syncArtifact imports the artifact's layers if its tag moved since the
// last successful sync.
func (s *Syncer) syncArtifact(ctx context.Context) SourceResult {
	a := s.artifact
	res := SourceResult{Source: a.name()}
	if err := s.fetchArtifact(ctx, &res); err != nil {
		res.Err = fmt.Errorf("vulnerability sync from %s: %w", res.Source, err)
		s.log.ErrorContext(ctx, "vulnerability sync failed", "source", res.Source, "err", err)
	}
	return res
}

func (s *Syncer) fetchArtifact(ctx context.Context, res *SourceResult) error {
	a := s.artifact
	log := s.log.With("source", res.Source)
	// Resolve the tag without content first: an unchanged artifact costs
	// one metadata read and is not recorded as pulled.
	head, err := s.cfg.Registry.GetManifest(ctx, a.repo, a.tag, false)
	if err != nil {
		return err
	}
	if head.Digest == a.last {
		log.DebugContext(ctx, "vulnerability artifact unchanged", "digest", head.Digest)
		return nil
	}
	// By digest, so the layers are those of the manifest just resolved
	// even if the tag moves meanwhile.
	m, err := s.cfg.Registry.GetManifest(ctx, a.repo, head.Digest.String(), true)
	if err != nil {
		return err
	}
	parsed, err := manifest.Parse(m.MediaType, m.Content)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	if parsed.IsIndex() {
		return errdefs.Unsupported("%s is an index; push the OSV data as a single artifact manifest", m.Digest)
	}
	log.InfoContext(ctx, "syncing vulnerability artifact", "digest", m.Digest, "layers", len(parsed.Layers))
	imported := 0
	for i, l := range parsed.Layers {
		zip, ok := osvLayer(l)
		if !ok {
			log.InfoContext(ctx, "skipping a layer that is not OSV data", "layer", i, "digest", l.Digest, "mediaType", l.MediaType)
			continue
		}
		if err := s.importLayer(ctx, res, l, fmt.Sprintf("layer %d (%s)", i, l.Digest), zip); err != nil {
			return err
		}
		imported++
	}
	if imported == 0 {
		return errdefs.Invalid("manifest %s has no OSV layer (media type %s, %s or %s, or a title ending in .zip or .json)",
			m.Digest, mediaTypeZip, mediaTypeJSON, mediaTypeOSVJSON)
	}
	a.last = m.Digest
	return nil
}

// osvLayer reports whether l holds OSV data, and whether that must be a
// zip archive.
func osvLayer(l v1.Descriptor) (zip, ok bool) {
	title := strings.ToLower(l.Annotations[v1.AnnotationTitle])
	zip = strings.HasSuffix(title, ".zip")
	if zip || strings.HasSuffix(title, ".json") {
		return zip, true
	}
	mt, _, err := mime.ParseMediaType(l.MediaType)
	if err != nil {
		return false, false
	}
	switch mt {
	case mediaTypeZip:
		return true, true
	case mediaTypeJSON, mediaTypeOSVJSON:
		return false, true
	}
	return false, false
}

// importLayer spools the layer l to a temporary file and imports it.
func (s *Syncer) importLayer(ctx context.Context, res *SourceResult, l v1.Descriptor, what string, zip bool) error {
	if l.Size > s.cfg.MaxBytes {
		return errdefs.TooLarge("%s is %s, over the %s limit", what, bytesize.Format(l.Size), bytesize.Format(s.cfg.MaxBytes))
	}
	bc, err := s.cfg.Registry.OpenBlob(ctx, s.artifact.repo, l.Digest, false)
	if err != nil {
		return fmt.Errorf("open %s: %w", what, err)
	}
	if bc.Content == nil {
		return errdefs.Unavailable("open %s: the registry returned no content", what)
	}
	path, _, err := s.spool(ctx, s.log.With("source", res.Source), bc.Content, what, l.Size)
	_ = bc.Content.Close()
	if err != nil {
		return err
	}
	defer os.Remove(path)
	if zip {
		if err := checkZip(path, what); err != nil {
			return err
		}
	}
	res.Fetched = true
	return s.importFile(ctx, res, path, what)
}
