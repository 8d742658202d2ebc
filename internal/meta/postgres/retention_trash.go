package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

// purgeBatch bounds the expired trash rows one purge transaction drops.
const purgeBatch = 500

const (
	trashCols = `t.id, t.repository_id, r.name, t.tag, t.digest, t.deleted_at, t.restorable_until,
		t.run_id, t.reason`

	projectRepositoriesSQL = `SELECT id, name, created_at FROM repositories
		WHERE name = $1 OR (name >= $2 AND name < $3) ORDER BY name`
	snapshotTagsSQL      = `SELECT name, digest, updated_at FROM tags WHERE repository_id = $1 ORDER BY name`
	snapshotManifestsSQL = `SELECT m.digest, m.pushed_at, m.last_pulled_at, m.subject, m.size,
		COALESCE((SELECT SUM(size) FROM manifest_refs r
			WHERE r.repository_id = m.repository_id AND r.manifest_digest = m.digest), 0),
		COALESCE((SELECT array_agg(child_digest ORDER BY child_digest) FROM manifest_refs r
			WHERE r.repository_id = m.repository_id AND r.manifest_digest = m.digest AND r.kind = 2), '{}')
		FROM manifests m WHERE m.repository_id = $1 ORDER BY m.digest`

	insertTrashSQL = `INSERT INTO retention_trash
		(repository_id, tag, digest, deleted_at, restorable_until, run_id, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	untaggedTrashedSQL = `SELECT EXISTS (SELECT 1 FROM retention_trash
		WHERE repository_id = $1 AND tag = '' AND digest = $2)`
	trashHoldsSQL = `SELECT EXISTS (SELECT 1 FROM retention_trash WHERE repository_id = $1 AND digest = $2)`
	listTrashSQL  = `SELECT ` + trashCols + ` FROM retention_trash t
		JOIN repositories r ON r.id = t.repository_id
		WHERE (r.name = $1 OR (r.name >= $2 AND r.name < $3)) AND t.id < $4 ORDER BY t.id DESC LIMIT $5`
	newestTrashTagSQL = `SELECT ` + trashCols + ` FROM retention_trash t
		JOIN repositories r ON r.id = t.repository_id
		WHERE t.repository_id = $1 AND t.tag = $2 AND (t.tag <> '' OR t.digest = $3)
		ORDER BY t.id DESC LIMIT 1 FOR UPDATE OF t`
	deleteTrashSQL  = `DELETE FROM retention_trash WHERE id = $1`
	expiredTrashSQL = `DELETE FROM retention_trash WHERE id IN (SELECT id FROM retention_trash
		WHERE restorable_until < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING repository_id, digest`
)

// ListProjectRepositories returns the repositories of project in byte
// order: the name itself and the names below "project/".
func (q *querier) ListProjectRepositories(ctx context.Context, project string) (_ []meta.Repository, err error) {
	defer errdefs.Wrapf(&err, "postgres: list repositories of project %q", project)
	return queryAll(ctx, q.db, func(row pgx.Row) (*meta.Repository, error) {
		var r meta.Repository
		err := row.Scan(&r.ID, &r.Name, &r.CreatedAt)
		r.CreatedAt = r.CreatedAt.UTC()
		return &r, err
	}, projectRepositoriesSQL, project, project+"/", project+"0")
}

// RetentionSnapshot returns the tags and manifests of repoID in two
// queries.
func (q *querier) RetentionSnapshot(ctx context.Context, repoID int64) (tags []meta.Tag, ms []meta.RetentionManifest, err error) {
	defer errdefs.Wrapf(&err, "postgres: retention snapshot of repository %d", repoID)
	tags, err = queryAll(ctx, q.db, func(row pgx.Row) (*meta.Tag, error) {
		t := meta.Tag{RepositoryID: repoID}
		err := row.Scan(&t.Name, &t.Digest, &t.UpdatedAt)
		t.UpdatedAt = t.UpdatedAt.UTC()
		return &t, err
	}, snapshotTagsSQL, repoID)
	if err != nil {
		return nil, nil, err
	}
	ms, err = queryAll(ctx, q.db, func(row pgx.Row) (*meta.RetentionManifest, error) {
		var (
			m        meta.RetentionManifest
			pulled   *time.Time
			refBytes int64
			children []string
		)
		err := row.Scan(&m.Digest, &m.PushedAt, &pulled, &m.Subject, &m.Size, &refBytes, &children)
		m.PushedAt, m.LastPulledAt, m.Size = m.PushedAt.UTC(), fromNullTime(pulled), m.Size+refBytes
		for _, c := range children {
			m.Children = append(m.Children, digest.Digest(c))
		}
		return &m, err
	}, snapshotManifestsSQL, repoID)
	return tags, ms, err
}

// TrashTags moves entries of repoID into the trash in one transaction.
func (s *Store) TrashTags(ctx context.Context, repoID int64, entries []meta.TrashEntry) (skipped []meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "postgres: trash %d entries of repository %d", len(entries), repoID)
	err = s.WithTx(ctx, func(tx meta.Querier) error {
		q := tx.(*querier)
		skipped = skipped[:0] // a retried transaction starts again
		for _, e := range entries {
			ok, err := q.trashOne(ctx, repoID, e)
			if err != nil {
				return err
			}
			if !ok {
				skipped = append(skipped, e)
			}
		}
		return nil
	})
	return skipped, err
}

// trashOne trashes e, reporting false when it no longer applies.
func (q *querier) trashOne(ctx context.Context, repoID int64, e meta.TrashEntry) (bool, error) {
	if e.Tag != "" {
		t, err := q.GetTag(ctx, repoID, e.Tag)
		if errdefs.IsNotFound(err) || (err == nil && t.Digest != e.Digest) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if _, err := q.DeleteTag(ctx, repoID, e.Tag); err != nil {
			return false, err
		}
	} else {
		if _, err := q.GetManifest(ctx, repoID, e.Digest, false); errdefs.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		tags, err := q.ListTagsOf(ctx, repoID, e.Digest)
		if err != nil || len(tags) > 0 {
			return false, err
		}
		var dup bool
		if err := q.db.QueryRow(ctx, untaggedTrashedSQL, repoID, string(e.Digest)).Scan(&dup); err != nil {
			return false, classify(err)
		}
		if dup {
			return true, nil
		}
	}
	_, err := q.db.Exec(ctx, insertTrashSQL, repoID, e.Tag, string(e.Digest), pgTimeOrNow(e.DeletedAt),
		pgTime(e.RestorableUntil), e.RunID, e.Reason)
	return true, classify(err)
}

// TrashHolds reports whether a trash row of repoID names dgst.
func (q *querier) TrashHolds(ctx context.Context, repoID int64, dgst digest.Digest) (held bool, err error) {
	defer errdefs.Wrapf(&err, "postgres: trash rows of %s", dgst)
	err = q.db.QueryRow(ctx, trashHoldsSQL, repoID, string(dgst)).Scan(&held)
	return held, classify(err)
}

func scanTrash(row pgx.Row) (*meta.TrashEntry, error) {
	var e meta.TrashEntry
	err := row.Scan(&e.ID, &e.RepositoryID, &e.Repository, &e.Tag, &e.Digest, &e.DeletedAt,
		&e.RestorableUntil, &e.RunID, &e.Reason)
	e.DeletedAt, e.RestorableUntil = e.DeletedAt.UTC(), e.RestorableUntil.UTC()
	return &e, err
}

// ListTrash returns trash rows of project's repositories, newest first.
func (q *querier) ListTrash(ctx context.Context, project string, before int64, limit int) (_ []meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "postgres: list trash of project %q", project)
	if before <= 0 {
		before = 1<<63 - 1
	}
	return queryAll(ctx, q.db, scanTrash, listTrashSQL, project, project+"/", project+"0", before, limitArg(limit))
}

// RestoreTrash puts the newest trash row of (repoID, tag) back.
func (s *Store) RestoreTrash(ctx context.Context, repoID int64, tag string, dgst digest.Digest) (e *meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "postgres: restore %q from the trash of repository %d", tag, repoID)
	err = s.WithTx(ctx, func(tx meta.Querier) error {
		q := tx.(*querier)
		var err error
		e, err = scanTrash(q.db.QueryRow(ctx, newestTrashTagSQL, repoID, tag, string(dgst)))
		if errors.Is(err, pgx.ErrNoRows) {
			return errdefs.NotFound("nothing to restore in the trash")
		}
		if err != nil {
			return classify(err)
		}
		if tag != "" {
			if err := restoreTag(ctx, q, e); err != nil {
				return err
			}
		}
		_, err = q.db.Exec(ctx, deleteTrashSQL, e.ID)
		return classify(err)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// restoreTag sets e's tag back to e's digest if the tag is free.
func restoreTag(ctx context.Context, q meta.Querier, e *meta.TrashEntry) error {
	cur, err := q.GetTag(ctx, e.RepositoryID, e.Tag)
	switch {
	case err == nil && cur.Digest != e.Digest:
		return errdefs.Conflict("tag %s now points at %s", e.Tag, cur.Digest)
	case err == nil:
		return nil
	case !errdefs.IsNotFound(err):
		return err
	}
	if _, err := q.GetManifest(ctx, e.RepositoryID, e.Digest, false); err != nil {
		return err
	}
	_, err = q.PutTag(ctx, e.RepositoryID, e.Tag, e.Digest)
	return err
}

// PurgeTrash drops expired trash rows a batch per transaction and deletes
// the manifests nothing keeps any more.
func (s *Store) PurgeTrash(ctx context.Context, now time.Time) (res meta.PurgeResult, err error) {
	defer errdefs.Wrapf(&err, "postgres: purge retention trash")
	for {
		var (
			n       int64
			deleted []meta.Change
		)
		err := s.WithTx(ctx, func(tx meta.Querier) error {
			q := tx.(*querier)
			cands, err := queryAll(ctx, q.db, func(row pgx.Row) (*meta.Change, error) {
				var c meta.Change
				err := row.Scan(&c.RepositoryID, &c.Digest)
				return &c, err
			}, expiredTrashSQL, pgTime(now), purgeBatch)
			if err != nil {
				return err
			}
			n = int64(len(cands))
			deleted, err = meta.PurgeManifests(ctx, q, cands)
			return err
		})
		if err != nil {
			return res, err
		}
		res.Entries += n
		res.Deleted = append(res.Deleted, deleted...)
		if n < purgeBatch {
			return res, nil
		}
	}
}
