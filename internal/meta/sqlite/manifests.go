package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
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
func scanManifest(row scanner, withContent bool) (*meta.Manifest, error) {
	var (
		m           meta.Manifest
		annotations sql.NullString
		pushed      int64
		pulled      sql.NullInt64
	)
	dest := []any{&m.RepositoryID, &m.Digest, &m.MediaType, &m.ArtifactType, &m.Subject,
		&m.ConfigDigest, &m.Size, &annotations, &pushed, &m.PushedBy, &pulled}
	if withContent {
		dest = append(dest, &m.Content)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if annotations.Valid {
		if err := json.Unmarshal([]byte(annotations.String), &m.Annotations); err != nil {
			return nil, errdefs.Invalid("decode annotations of %s: %v", m.Digest, err)
		}
	}
	m.PushedAt = fromMicros(pushed)
	if pulled.Valid {
		m.LastPulledAt = fromMicros(pulled.Int64)
	}
	return &m, nil
}

// scanManifestRow is scanManifest for a single-row lookup, turning no row
// into ErrNotFound with the message notFound.
func scanManifestRow(row scanner, withContent bool, notFound func() error) (*meta.Manifest, error) {
	m, err := scanManifest(row, withContent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, classify(err)
	}
	return m, nil
}

// PutManifest stores m with its references in m.RepositoryID, unless the
// repository holds the digest already (then nothing changes). PushedAt
// defaults to now. It fails with ErrInvalid if m.Content is empty and with
// ErrNotFound if the repository does not exist.
func (q *querier) PutManifest(ctx context.Context, m *meta.Manifest, refs []meta.Reference) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: put manifest %s", m.Digest)
	if len(m.Content) == 0 {
		return errdefs.Invalid("manifest content is empty")
	}
	var annotations sql.NullString
	if len(m.Annotations) > 0 {
		b, err := json.Marshal(m.Annotations)
		if err != nil {
			return errdefs.Invalid("encode annotations: %v", err)
		}
		annotations = sql.NullString{String: string(b), Valid: true}
	}
	var pulled sql.NullInt64
	if !m.LastPulledAt.IsZero() {
		pulled = sql.NullInt64{Int64: micros(m.LastPulledAt), Valid: true}
	}
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, insertManifestSQL, m.RepositoryID, string(m.Digest), m.MediaType, m.ArtifactType, string(m.Subject),
			string(m.ConfigDigest), m.Size, annotations, microsOrNow(m.PushedAt), m.PushedBy,
			pulled, m.Content))
		if isFKViolation(err) {
			return errdefs.NotFound("repository %d not found", m.RepositoryID)
		}
		if err != nil || n == 0 {
			return classify(err)
		}
		for _, ref := range refs {
			_, err := w.exec(ctx, insertRefSQL, m.RepositoryID, string(m.Digest), string(ref.Digest), int(ref.Kind), ref.Size)
			if err != nil {
				return classify(err)
			}
		}
		return nil
	})
}

// GetManifest returns manifest dgst of repoID, with Content only if
// withContent, or ErrNotFound.
func (q *querier) GetManifest(ctx context.Context, repoID int64, dgst digest.Digest, withContent bool) (_ *meta.Manifest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get manifest %s", dgst)
	row := q.read.queryRow(ctx, manifestQuery(withContent, getManifestSQL, getManifestMetaSQL),
		repoID, string(dgst))
	return scanManifestRow(row, withContent, func() error {
		return errdefs.NotFound("manifest %s not found in repository %d", dgst, repoID)
	})
}

// GetTaggedManifest resolves tag in repoID and returns its manifest in one
// query, or ErrNotFound if the tag does not exist.
func (q *querier) GetTaggedManifest(ctx context.Context, repoID int64, tag string, withContent bool) (_ *meta.Manifest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get manifest tagged %q", tag)
	row := q.read.queryRow(ctx, manifestQuery(withContent, getTaggedSQL, getTaggedMetaSQL),
		repoID, tag)
	return scanManifestRow(row, withContent, func() error {
		return errdefs.NotFound("tag %q not found in repository %d", tag, repoID)
	})
}

// DeleteManifest removes the manifest and its reference rows; ErrNotFound
// if absent. A manifest that a tag still points at is not deleted: that is
// ErrConflict (delete the tags first).
func (q *querier) DeleteManifest(ctx context.Context, repoID int64, dgst digest.Digest) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete manifest %s", dgst)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, deleteManifestSQL, repoID, string(dgst)))
		if isFKViolation(err) {
			return errdefs.Conflict("manifest %s is still tagged", dgst)
		}
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("manifest %s not found in repository %d", dgst, repoID)
		}
		return nil
	})
}

// MissingManifests returns those of dgsts that repoID does not hold, in
// the order given (duplicates repeated), in one query.
func (q *querier) MissingManifests(ctx context.Context, repoID int64, dgsts []digest.Digest) (_ []digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: missing manifests of repository %d", repoID)
	return missing(ctx, q.read, missingManifestsSQL, repoID, dgsts)
}

// ListManifestParents returns, in digest order, the manifests of repoID
// that name dgst as a child manifest.
func (q *querier) ListManifestParents(ctx context.Context, repoID int64, dgst digest.Digest) (_ []digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list parents of %s", dgst)
	rows, err := q.read.query(ctx, listRefUsersSQL,
		repoID, string(dgst), int(meta.RefManifest), -1)
	if err != nil {
		return nil, classify(err)
	}
	return scanDigests(rows)
}

// ListBlobUsers returns, in digest order, up to limit (no limit if
// limit <= 0) manifests of repoID that reference the blob dgst.
func (q *querier) ListBlobUsers(ctx context.Context, repoID int64, dgst digest.Digest, limit int) (_ []digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list users of blob %s", dgst)
	rows, err := q.read.query(ctx, listRefUsersSQL,
		repoID, string(dgst), int(meta.RefBlob), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanDigests(rows)
}

// ListReferrers returns the manifests of repoID whose subject is subject,
// without Content, in digest order; only those of artifactType if it is
// not "".
func (q *querier) ListReferrers(ctx context.Context, repoID int64, subject digest.Digest, artifactType string) (_ []meta.Manifest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list referrers of %s", subject)
	if subject == "" {
		return nil, nil
	}
	var rows *sql.Rows
	if artifactType == "" {
		rows, err = q.read.query(ctx, listReferrersSQL, repoID, string(subject))
	} else {
		rows, err = q.read.query(ctx, listReferrersOfTypeSQL, repoID, string(subject), artifactType)
	}
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.Manifest
	for rows.Next() {
		m, err := scanManifest(rows, false)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, *m)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
