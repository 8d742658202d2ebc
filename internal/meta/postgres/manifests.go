package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

// manifestQuery picks the statement with or without content.
func manifestQuery(withContent bool, withSQL, withoutSQL string) string {
	if withContent {
		return withSQL
	}
	return withoutSQL
}

// scanManifest reads one row of manifestCols (plus content if withContent).
func scanManifest(row pgx.Row, withContent bool) (*meta.Manifest, error) {
	var (
		m           meta.Manifest
		annotations []byte
		pulled      *time.Time
	)
	dest := []any{&m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType, &m.Subject,
		&m.ConfigDigest, &m.Size, &annotations, &m.PushedAt, &m.PushedBy, &pulled}
	if withContent {
		dest = append(dest, &m.Content)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if annotations != nil {
		if err := json.Unmarshal(annotations, &m.Annotations); err != nil {
			return nil, errdefs.Invalid("decode annotations of %s: %v", m.Digest, err)
		}
	}
	m.PushedAt = m.PushedAt.UTC()
	if pulled != nil {
		m.LastPulledAt = pulled.UTC()
	}
	return &m, nil
}

// scanManifestRow is scanManifest for a single-row lookup, turning no row
// into ErrNotFound with the message notFound.
func scanManifestRow(row pgx.Row, withContent bool, notFound func() error) (*meta.Manifest, error) {
	m, err := scanManifest(row, withContent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, classify(err)
	}
	return m, nil
}

// PutManifest stores m with its references in m.RepositoryID, in one
// statement, unless the repository holds the digest already (then nothing
// changes). PushedAt defaults to now. It fails with ErrInvalid if m.Content
// is empty and with ErrNotFound if the repository does not exist.
func (q *querier) PutManifest(ctx context.Context, m *meta.Manifest, refs []meta.Reference) (err error) {
	defer errdefs.Wrapf(&err, "postgres: put manifest %s", m.Digest)
	if len(m.Content) == 0 {
		return errdefs.Invalid("manifest content is empty")
	}
	var annotations []byte
	if len(m.Annotations) > 0 {
		if annotations, err = json.Marshal(m.Annotations); err != nil {
			return errdefs.Invalid("encode annotations: %v", err)
		}
	}
	var pulled *time.Time
	if !m.LastPulledAt.IsZero() {
		t := pgTime(m.LastPulledAt)
		pulled = &t
	}
	children := make([]string, len(refs))
	kinds := make([]int16, len(refs))
	sizes := make([]int64, len(refs))
	for i, r := range refs {
		children[i], kinds[i], sizes[i] = string(r.Digest), int16(r.Kind), r.Size
	}
	_, err = q.db.Exec(ctx, putManifestSQL, m.RepositoryID, string(m.Digest), m.MediaType,
		m.ArtifactType, string(m.Subject), string(m.ConfigDigest), m.Size, jsonArg(annotations),
		pgTimeOrNow(m.PushedAt), m.PushedBy, pulled, m.Content, children, kinds, sizes)
	if isFKViolation(err) {
		return errdefs.NotFound("repository %d not found", m.RepositoryID)
	}
	return classify(err)
}

// jsonArg passes encoded JSON as a json parameter, or NULL for nil.
func jsonArg(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// GetManifest returns manifest dgst of repoID, with Content only if
// withContent, or ErrNotFound.
func (q *querier) GetManifest(ctx context.Context, repoID int64, dgst digest.Digest, withContent bool) (_ *meta.Manifest, err error) {
	defer errdefs.Wrapf(&err, "postgres: get manifest %s", dgst)
	row := q.db.QueryRow(ctx, manifestQuery(withContent, getManifestSQL, getManifestMetaSQL),
		repoID, string(dgst))
	return scanManifestRow(row, withContent, func() error {
		return errdefs.NotFound("manifest %s not found in repository %d", dgst, repoID)
	})
}

// GetTaggedManifest resolves tag in repoID and returns its manifest in one
// query, or ErrNotFound if the tag does not exist.
func (q *querier) GetTaggedManifest(ctx context.Context, repoID int64, tag string, withContent bool) (_ *meta.Manifest, err error) {
	defer errdefs.Wrapf(&err, "postgres: get manifest tagged %q", tag)
	row := q.db.QueryRow(ctx, manifestQuery(withContent, getTaggedSQL, getTaggedMetaSQL),
		repoID, tag)
	return scanManifestRow(row, withContent, func() error {
		return errdefs.NotFound("tag %q not found in repository %d", tag, repoID)
	})
}

// DeleteManifest removes the manifest and its reference rows and announces
// it on the change feed; ErrNotFound if absent. A manifest that a tag still
// points at is not deleted: that is ErrConflict (delete the tags first).
func (q *querier) DeleteManifest(ctx context.Context, repoID int64, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "postgres: delete manifest %s", dgst)
	ch := meta.Change{RepositoryID: repoID, Digest: dgst}
	var n int64
	err = q.db.QueryRow(ctx, deleteManifestSQL, repoID, string(dgst), q.notifyArg(ch)).Scan(&n)
	if isFKViolation(err) {
		return errdefs.Conflict("manifest %s is still tagged", dgst)
	}
	if err != nil {
		return classify(err)
	}
	if n == 0 {
		return errdefs.NotFound("manifest %s not found in repository %d", dgst, repoID)
	}
	q.record(ch)
	return nil
}

// MissingManifests returns those of dgsts that repoID does not hold, in
// the order given (duplicates repeated), in one query.
func (q *querier) MissingManifests(ctx context.Context, repoID int64, dgsts []digest.Digest) (_ []digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "postgres: missing manifests of repository %d", repoID)
	return missing(ctx, q.db, missingManifestsSQL, repoID, dgsts)
}

// ListManifestParents returns, in digest order, the manifests of repoID
// that name dgst as a child manifest.
func (q *querier) ListManifestParents(ctx context.Context, repoID int64, dgst digest.Digest) (_ []digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "postgres: list parents of %s", dgst)
	return queryDigests(ctx, q.db, listRefUsersSQL, repoID, string(dgst), int16(meta.RefManifest), limitArg(0))
}

// ListBlobUsers returns, in digest order, up to limit (no limit if
// limit <= 0) manifests of repoID that reference the blob dgst.
func (q *querier) ListBlobUsers(ctx context.Context, repoID int64, dgst digest.Digest, limit int) (_ []digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "postgres: list users of blob %s", dgst)
	return queryDigests(ctx, q.db, listRefUsersSQL, repoID, string(dgst), int16(meta.RefBlob), limitArg(limit))
}

// ListReferrers returns the manifests of repoID whose subject is subject,
// without Content, in digest order; only those of artifactType if it is
// not "".
func (q *querier) ListReferrers(ctx context.Context, repoID int64, subject digest.Digest, artifactType string) (_ []meta.Manifest, err error) {
	defer errdefs.Wrapf(&err, "postgres: list referrers of %s", subject)
	if subject == "" {
		return nil, nil
	}
	var rows pgx.Rows
	if artifactType == "" {
		rows, err = q.db.Query(ctx, listReferrersSQL, repoID, string(subject))
	} else {
		rows, err = q.db.Query(ctx, listReferrersOfTypeSQL, repoID, string(subject), artifactType)
	}
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Manifest, error) {
		m, err := scanManifest(row, false)
		if err != nil {
			return meta.Manifest{}, err
		}
		return *m, nil
	})
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}
