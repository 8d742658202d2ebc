package sqlite

import (
	"context"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

const promotionCols = `id, digest, source_repository, source_project, source_reference,
	destination_repository, destination_project, tag, promoted_by, promoted_at, children, referrers`

// Promotion records (meta.PromotionStore) and batched pull times
// (meta.PullRecorder).
var (
	insertPromotionSQL = stmt(`INSERT INTO promotions (digest, source_repository, source_project,
		source_reference, destination_repository, destination_project, tag, promoted_by, promoted_at,
		children, referrers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	// Empty filters (digest '', project '', before 0) select everything.
	listPromotionsSQL = stmt(`SELECT ` + promotionCols + ` FROM promotions
		WHERE (?1 = '' OR digest = ?1)
		  AND (?2 = '' OR source_project = ?2 OR destination_project = ?2)
		  AND (?3 = 0 OR id < ?3)
		ORDER BY id DESC LIMIT ?4`)
	touchTagSQL   = stmt(`UPDATE tags SET updated_at = ? WHERE repository_id = ? AND name = ?`)
	recordPullSQL = stmt(`UPDATE manifests SET last_pulled_at = MAX(COALESCE(last_pulled_at, 0), ?)
		WHERE repository_id = ? AND digest = ?`)
)

var (
	_ meta.PromotionStore = (*Store)(nil)
	_ meta.PullRecorder   = (*Store)(nil)
)

func scanPromotion(row scanner) (*meta.Promotion, error) {
	var (
		p        meta.Promotion
		dgst     string
		promoted int64
	)
	err := row.Scan(&p.ID, &dgst, &p.SourceRepository, &p.SourceProject, &p.SourceReference,
		&p.DestinationRepository, &p.DestinationProject, &p.Tag, &p.PromotedBy, &promoted,
		&p.Children, &p.Referrers)
	if err != nil {
		return nil, err
	}
	p.Digest = digest.Digest(dgst)
	p.PromotedAt = fromMicros(promoted)
	return &p, nil
}

// PutPromotion stores a new record and sets p.ID and p.PromotedAt (now
// when zero, else as stored).
func (q *querier) PutPromotion(ctx context.Context, p *meta.Promotion) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: record promotion of %s to %s:%s", p.Digest, p.DestinationRepository, p.Tag)
	promoted := microsOrNow(p.PromotedAt)
	return q.write(ctx, func(w runner) error {
		res, err := w.exec(ctx, insertPromotionSQL, string(p.Digest), p.SourceRepository, p.SourceProject,
			p.SourceReference, p.DestinationRepository, p.DestinationProject, p.Tag, p.PromotedBy, promoted,
			p.Children, p.Referrers)
		if err != nil {
			return classify(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return classify(err)
		}
		p.ID, p.PromotedAt = id, fromMicros(promoted)
		return nil
	})
}

// TouchTag sets the tag's updated_at to at; ErrNotFound if it is absent.
func (q *querier) TouchTag(ctx context.Context, repoID int64, name string, at time.Time) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: touch tag %q", name)
	return q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, touchTagSQL, micros(at), repoID, name))
		if err != nil {
			return classify(err)
		}
		if n == 0 {
			return errdefs.NotFound("tag %q not found in repository %d", name, repoID)
		}
		return nil
	})
}

// ListPromotions returns the promotions f selects, newest first.
func (q *querier) ListPromotions(ctx context.Context, f meta.PromotionQuery) (_ []meta.Promotion, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list promotions")
	rows, err := q.read.query(ctx, listPromotionsSQL, string(f.Digest), f.Project, f.Before, limitArg(f.Limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanPromotion)
}

// RecordPulls moves the last pull time of each named manifest forward to
// the pull's time, in one write transaction.
func (q *querier) RecordPulls(ctx context.Context, pulls []meta.Pull) (err error) {
	if len(pulls) == 0 {
		return nil
	}
	defer errdefs.Wrapf(&err, "sqlite: record %d pulls", len(pulls))
	return q.write(ctx, func(w runner) error {
		for _, p := range pulls {
			if _, err := w.exec(ctx, recordPullSQL, micros(p.At), p.RepositoryID, string(p.Digest)); err != nil {
				return classify(err)
			}
		}
		return nil
	})
}
