package postgres

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

const promotionCols = `id, digest, source_repository, source_project, source_reference,
	destination_repository, destination_project, tag, promoted_by, promoted_at, children, referrers`

// Promotion records (meta.PromotionStore) and batched pull times
// (meta.PullRecorder).
const (
	insertPromotionSQL = `INSERT INTO promotions (digest, source_repository, source_project,
		source_reference, destination_repository, destination_project, tag, promoted_by, promoted_at,
		children, referrers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`
	// Empty filters (digest '', project '', before 0) select everything.
	listPromotionsSQL = `SELECT ` + promotionCols + ` FROM promotions
		WHERE ($1::text = '' OR digest = $1::text)
		  AND ($2::text = '' OR source_project = $2::text OR destination_project = $2::text)
		  AND ($3::bigint = 0 OR id < $3::bigint)
		ORDER BY id DESC LIMIT $4`
	touchTagSQL = `UPDATE tags SET updated_at = $1 WHERE repository_id = $2 AND name = $3`
	// One statement for the whole batch; a manifest named twice takes the
	// later time.
	recordPullsSQL = `UPDATE manifests m SET last_pulled_at = GREATEST(m.last_pulled_at, v.at)
		FROM (SELECT repo, dgst, max(at) AS at
		        FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS p(repo, dgst, at)
		       GROUP BY repo, dgst ORDER BY repo, dgst) v
		WHERE m.repository_id = v.repo AND m.digest = v.dgst`
)

var (
	_ meta.PromotionStore = (*Store)(nil)
	_ meta.PullRecorder   = (*Store)(nil)
)

func scanPromotion(row pgx.Row) (*meta.Promotion, error) {
	var (
		p    meta.Promotion
		dgst string
	)
	err := row.Scan(&p.ID, &dgst, &p.SourceRepository, &p.SourceProject, &p.SourceReference,
		&p.DestinationRepository, &p.DestinationProject, &p.Tag, &p.PromotedBy, &p.PromotedAt,
		&p.Children, &p.Referrers)
	if err != nil {
		return nil, err
	}
	p.Digest = digest.Digest(dgst)
	p.PromotedAt = p.PromotedAt.UTC()
	return &p, nil
}

// PutPromotion stores a new record and sets p.ID and p.PromotedAt (now
// when zero, else as stored).
func (q *querier) PutPromotion(ctx context.Context, p *meta.Promotion) (err error) {
	defer errdefs.Wrapf(&err, "postgres: record promotion of %s to %s:%s", p.Digest, p.DestinationRepository, p.Tag)
	promoted := pgTimeOrNow(p.PromotedAt)
	err = q.db.QueryRow(ctx, insertPromotionSQL, string(p.Digest), p.SourceRepository, p.SourceProject,
		p.SourceReference, p.DestinationRepository, p.DestinationProject, p.Tag, p.PromotedBy, promoted,
		p.Children, p.Referrers).Scan(&p.ID)
	if err != nil {
		return classify(err)
	}
	p.PromotedAt = promoted.UTC()
	return nil
}

// TouchTag sets the tag's updated_at to at and announces the change (cached
// tags carry their time); ErrNotFound if the tag is absent.
func (q *querier) TouchTag(ctx context.Context, repoID int64, name string, at time.Time) (err error) {
	defer errdefs.Wrapf(&err, "postgres: touch tag %q", name)
	tag, err := q.db.Exec(ctx, touchTagSQL, pgTime(at), repoID, name)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return errdefs.NotFound("tag %q not found in repository %d", name, repoID)
	}
	ch := meta.Change{RepositoryID: repoID, Tag: name}
	if p := q.notifyArg(ch); p != nil {
		if _, err := q.db.Exec(ctx, notifySQL, *p); err != nil {
			return classify(err)
		}
		return nil
	}
	q.record(ch)
	return nil
}

// ListPromotions returns the promotions f selects, newest first.
func (q *querier) ListPromotions(ctx context.Context, f meta.PromotionQuery) (_ []meta.Promotion, err error) {
	defer errdefs.Wrapf(&err, "postgres: list promotions")
	return queryAll(ctx, q.db, scanPromotion, listPromotionsSQL, string(f.Digest), f.Project, f.Before, limitArg(f.Limit))
}

// RecordPulls moves the last pull time of each named manifest forward to
// the pull's time, in one statement.
func (q *querier) RecordPulls(ctx context.Context, pulls []meta.Pull) (err error) {
	if len(pulls) == 0 {
		return nil
	}
	defer errdefs.Wrapf(&err, "postgres: record %d pulls", len(pulls))
	repos := make([]int64, len(pulls))
	dgsts := make([]string, len(pulls))
	ats := make([]time.Time, len(pulls))
	for i, p := range pulls {
		repos[i], dgsts[i], ats[i] = p.RepositoryID, string(p.Digest), pgTime(p.At)
	}
	if _, err := q.db.Exec(ctx, recordPullsSQL, repos, dgsts, ats); err != nil {
		return classify(err)
	}
	return nil
}
