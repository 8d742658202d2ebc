package postgres

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Link pruning (meta.LinkPruner). DeleteStaleLinks first locks the
// candidate link rows (FOR UPDATE), then deletes those still stale in a
// later statement, whose fresh snapshot sees what racing transactions
// committed while it waited: a re-link or lease taken meanwhile keeps the
// link.

var _ meta.LinkPruner = (*Store)(nil)

// staleLinkCond is true for a link rb that no manifest of its repository
// references (layer or config) and no lease live at $2 holds.
const staleLinkCond = `NOT EXISTS (SELECT 1 FROM manifest_refs r
		WHERE r.repository_id = rb.repository_id AND r.child_digest = rb.digest AND r.kind = 1)
	AND NOT EXISTS (SELECT 1 FROM manifests m
		WHERE m.config_digest = rb.digest AND m.repository_id = rb.repository_id)
	AND NOT EXISTS (SELECT 1 FROM blob_leases l WHERE l.digest = rb.digest AND l.expires_at > $2)`

const (
	staleLinksSQL = `SELECT rb.repository_id, rb.digest FROM repository_blobs rb
		WHERE (rb.repository_id, rb.digest) > ($1::bigint, $3::text COLLATE "C") AND ` + staleLinkCond + `
		ORDER BY rb.repository_id, rb.digest LIMIT $4`
	lockLinksSQL = `SELECT 1 FROM repository_blobs rb
		JOIN unnest($1::bigint[], $2::text[]) AS t (r, d) ON rb.repository_id = t.r AND rb.digest = t.d
		ORDER BY rb.repository_id, rb.digest FOR UPDATE OF rb`
	deleteStaleLinksSQL = `DELETE FROM repository_blobs rb USING unnest($1::bigint[], $3::text[]) AS t (r, d)
		WHERE rb.repository_id = t.r AND rb.digest = t.d AND ` + staleLinkCond
)

// StaleLinks returns up to limit stale links after `after`.
func (q *querier) StaleLinks(ctx context.Context, after meta.BlobLink, now time.Time, limit int) (_ []meta.BlobLink, err error) {
	defer errdefs.Wrapf(&err, "postgres: stale links after %d/%s", after.RepositoryID, after.Digest)
	rows, err := q.db.Query(ctx, staleLinksSQL, after.RepositoryID, pgTime(now), string(after.Digest), limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.BlobLink
	for rows.Next() {
		var (
			l meta.BlobLink
			d string
		)
		if err := rows.Scan(&l.RepositoryID, &d); err != nil {
			return nil, classify(err)
		}
		l.Digest = digest.Digest(d)
		out = append(out, l)
	}
	return out, classify(rows.Err())
}

// DeleteStaleLinks locks links, then deletes those still stale.
func (q *querier) DeleteStaleLinks(ctx context.Context, links []meta.BlobLink, now time.Time) (n int64, err error) {
	defer errdefs.Wrapf(&err, "postgres: delete %d stale links", len(links))
	if len(links) == 0 {
		return 0, nil
	}
	repos := make([]int64, len(links))
	dgsts := make([]string, len(links))
	for i, l := range links {
		repos[i], dgsts[i] = l.RepositoryID, string(l.Digest)
	}
	err = q.atomic(ctx, func(db dbtx) error {
		if _, err := db.Exec(ctx, lockLinksSQL, repos, dgsts); err != nil {
			return classify(err)
		}
		tag, err := db.Exec(ctx, deleteStaleLinksSQL, repos, pgTime(now), dgsts)
		if err != nil {
			return classify(err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}
