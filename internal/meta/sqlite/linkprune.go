package sqlite

import (
	"context"
	"encoding/json"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Link pruning (meta.LinkPruner). The delete re-checks staleness in its
// own statement inside a write transaction, which SQLite serializes with
// every push, so a link a push relies on is never deleted under it.

var _ meta.LinkPruner = (*Store)(nil)

// staleLinkCond is true for a link rb that no manifest of its repository
// references (layer or config) and no lease live at ?2 holds.
const staleLinkCond = `NOT EXISTS (SELECT 1 FROM manifest_refs r
		WHERE r.repository_id = rb.repository_id AND r.child_digest = rb.digest AND r.kind = 1)
	AND NOT EXISTS (SELECT 1 FROM manifests m
		WHERE m.config_digest = rb.digest AND m.repository_id = rb.repository_id)
	AND NOT EXISTS (SELECT 1 FROM blob_leases l WHERE l.digest = rb.digest AND l.expires_at > ?2)`

var (
	staleLinksSQL = stmt(`SELECT rb.repository_id, rb.digest FROM repository_blobs rb
		WHERE (rb.repository_id, rb.digest) > (?1, ?3) AND ` + staleLinkCond + `
		ORDER BY rb.repository_id, rb.digest LIMIT ?4`)
	deleteStaleLinksSQL = stmt(`DELETE FROM repository_blobs AS rb
		WHERE (rb.repository_id, rb.digest) IN
		  (SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]') FROM json_each(?1) j)
		AND ` + staleLinkCond)
)

// StaleLinks returns up to limit stale links after `after`.
func (q *querier) StaleLinks(ctx context.Context, after meta.BlobLink, now time.Time, limit int) (_ []meta.BlobLink, err error) {
	defer errdefs.Wrapf(&err, "sqlite: stale links after %d/%s", after.RepositoryID, after.Digest)
	rows, err := q.read.query(ctx, staleLinksSQL, after.RepositoryID, micros(now), string(after.Digest), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.BlobLink
	for rows.Next() {
		var l meta.BlobLink
		var d string
		if err := rows.Scan(&l.RepositoryID, &d); err != nil {
			return nil, classify(err)
		}
		l.Digest = digest.Digest(d)
		out = append(out, l)
	}
	return out, classify(rows.Err())
}

// DeleteStaleLinks deletes those of links still stale, in one statement.
func (q *querier) DeleteStaleLinks(ctx context.Context, links []meta.BlobLink, now time.Time) (n int64, err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete %d stale links", len(links))
	if len(links) == 0 {
		return 0, nil
	}
	pairs := make([][2]any, len(links))
	for i, l := range links {
		pairs[i] = [2]any{l.RepositoryID, string(l.Digest)}
	}
	list, err := json.Marshal(pairs)
	if err != nil {
		return 0, errdefs.Invalid("encode links: %v", err)
	}
	err = q.write(ctx, func(w runner) error {
		var err error
		n, err = affected(w.exec(ctx, deleteStaleLinksSQL, string(list), micros(now)))
		return classify(err)
	})
	return n, err
}
