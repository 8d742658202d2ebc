package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// purgeBatch bounds the expired trash rows one purge transaction drops.
const purgeBatch = 500

// ListProjectRepositories returns the repositories of project in byte
// order: the name itself and the names below "project/" (the range up to
// "project0", '0' following '/').
func (q *querier) ListProjectRepositories(ctx context.Context, project string) (_ []meta.Repository, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list repositories of project %q", project)
	rows, err := q.read.query(ctx, projectRepositoriesSQL, project, project+"/", project+"0")
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, func(row scanner) (*meta.Repository, error) {
		var (
			r       meta.Repository
			created int64
		)
		err := row.Scan(&r.ID, &r.Name, &created)
		r.CreatedAt = fromMicros(created)
		return &r, err
	})
}

// RetentionSnapshot returns the tags and manifests of repoID in three
// queries.
func (q *querier) RetentionSnapshot(ctx context.Context, repoID int64) (tags []meta.Tag, ms []meta.RetentionManifest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: retention snapshot of repository %d", repoID)
	rows, err := q.read.query(ctx, snapshotTagsSQL, repoID)
	if err != nil {
		return nil, nil, classify(err)
	}
	tags, err = scanAll(rows, func(row scanner) (*meta.Tag, error) {
		t := meta.Tag{RepositoryID: repoID}
		var updated int64
		err := row.Scan(&t.Name, &t.Digest, &updated)
		t.UpdatedAt = fromMicros(updated)
		return &t, err
	})
	if err != nil {
		return nil, nil, err
	}
	rows, err = q.read.query(ctx, snapshotManifestsSQL, repoID)
	if err != nil {
		return nil, nil, classify(err)
	}
	ms, err = scanAll(rows, func(row scanner) (*meta.RetentionManifest, error) {
		var (
			m      meta.RetentionManifest
			pushed int64
			pulled sql.NullInt64
		)
		err := row.Scan(&m.Digest, &pushed, &pulled, &m.Subject, &m.Size)
		m.PushedAt, m.LastPulledAt = fromMicros(pushed), fromNullMicros(pulled)
		return &m, err
	})
	if err != nil {
		return nil, nil, err
	}
	return tags, ms, q.addRefs(ctx, repoID, ms)
}

// addRefs adds the reference sizes and child manifests of repoID to ms
// (sorted by digest).
func (q *querier) addRefs(ctx context.Context, repoID int64, ms []meta.RetentionManifest) error {
	index := make(map[digest.Digest]*meta.RetentionManifest, len(ms))
	for i := range ms {
		index[ms[i].Digest] = &ms[i]
	}
	rows, err := q.read.query(ctx, snapshotRefsSQL, repoID)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			parent, child digest.Digest
			kind          meta.RefKind
			size          int64
		)
		if err := rows.Scan(&parent, &child, &kind, &size); err != nil {
			return classify(err)
		}
		m := index[parent]
		if m == nil {
			continue
		}
		m.Size += size
		if kind == meta.RefManifest {
			m.Children = append(m.Children, child)
		}
	}
	return classify(rows.Err())
}

// TrashTags moves entries of repoID into the trash in one transaction.
func (q *querier) TrashTags(ctx context.Context, repoID int64, entries []meta.TrashEntry) (skipped []meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "sqlite: trash %d entries of repository %d", len(entries), repoID)
	err = q.inTxQ(ctx, func(tq *querier) error {
		skipped = skipped[:0] // group commit may run fn again after a retry
		for _, e := range entries {
			ok, err := tq.trashOne(ctx, repoID, e)
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
func (tq *querier) trashOne(ctx context.Context, repoID int64, e meta.TrashEntry) (bool, error) {
	w := *tq.tx
	if e.Tag != "" {
		t, err := tq.GetTag(ctx, repoID, e.Tag)
		if errdefs.IsNotFound(err) || (err == nil && t.Digest != e.Digest) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if _, err := tq.DeleteTag(ctx, repoID, e.Tag); err != nil {
			return false, err
		}
	} else {
		if _, err := tq.GetManifest(ctx, repoID, e.Digest, false); errdefs.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		tags, err := tq.ListTagsOf(ctx, repoID, e.Digest)
		if err != nil || len(tags) > 0 {
			return false, err
		}
		var dup bool
		if err := w.queryRow(ctx, untaggedTrashedSQL, repoID, string(e.Digest)).Scan(&dup); err != nil {
			return false, classify(err)
		}
		if dup {
			return true, nil
		}
	}
	_, err := w.exec(ctx, insertTrashSQL, repoID, e.Tag, string(e.Digest), microsOrNow(e.DeletedAt),
		micros(e.RestorableUntil), e.RunID, e.Reason)
	return true, classify(err)
}

// TrashHolds reports whether a trash row of repoID names dgst.
func (q *querier) TrashHolds(ctx context.Context, repoID int64, dgst digest.Digest) (held bool, err error) {
	defer errdefs.Wrapf(&err, "sqlite: trash rows of %s", dgst)
	err = q.read.queryRow(ctx, trashHoldsSQL, repoID, string(dgst)).Scan(&held)
	return held, classify(err)
}

func scanTrash(row scanner) (*meta.TrashEntry, error) {
	var (
		e              meta.TrashEntry
		deleted, until int64
	)
	err := row.Scan(&e.ID, &e.RepositoryID, &e.Repository, &e.Tag, &e.Digest, &deleted, &until, &e.RunID, &e.Reason)
	e.DeletedAt, e.RestorableUntil = fromMicros(deleted), fromMicros(until)
	return &e, err
}

// ListTrash returns trash rows of project's repositories, newest first.
func (q *querier) ListTrash(ctx context.Context, project string, before int64, limit int) (_ []meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list trash of project %q", project)
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := q.read.query(ctx, listTrashSQL, project, project+"/", project+"0", before, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanTrash)
}

// RestoreTrash puts the newest trash row of (repoID, tag) back.
func (q *querier) RestoreTrash(ctx context.Context, repoID int64, tag string, dgst digest.Digest) (e *meta.TrashEntry, err error) {
	defer errdefs.Wrapf(&err, "sqlite: restore %q from the trash of repository %d", tag, repoID)
	err = q.inTxQ(ctx, func(tq *querier) error {
		w := *tq.tx
		var err error
		e, err = scanTrash(w.queryRow(ctx, newestTrashTagSQL, repoID, tag, string(dgst)))
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFound("nothing to restore in the trash")
		}
		if err != nil {
			return classify(err)
		}
		if tag != "" {
			if err := restoreTag(ctx, tq, e); err != nil {
				return err
			}
		}
		_, err = w.exec(ctx, deleteTrashSQL, e.ID)
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
func (q *querier) PurgeTrash(ctx context.Context, now time.Time) (res meta.PurgeResult, err error) {
	defer errdefs.Wrapf(&err, "sqlite: purge retention trash")
	for {
		var n int64
		var deleted []meta.Change
		err := q.inTxQ(ctx, func(tq *querier) error {
			var err error
			n, deleted, err = tq.purgeBatch(ctx, now)
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

// purgeBatch drops up to purgeBatch expired rows and purges their
// manifests.
func (tq *querier) purgeBatch(ctx context.Context, now time.Time) (int64, []meta.Change, error) {
	w := *tq.tx
	rows, err := w.query(ctx, expiredTrashSQL, micros(now), purgeBatch)
	if err != nil {
		return 0, nil, classify(err)
	}
	type row struct {
		id   int64
		repo int64
		dgst digest.Digest
	}
	expired, err := scanAll(rows, func(s scanner) (*row, error) {
		var r row
		err := s.Scan(&r.id, &r.repo, &r.dgst)
		return &r, err
	})
	if err != nil {
		return 0, nil, err
	}
	cands := make([]meta.Change, 0, len(expired))
	for _, r := range expired {
		if _, err := w.exec(ctx, deleteTrashSQL, r.id); err != nil {
			return 0, nil, classify(err)
		}
		cands = append(cands, meta.Change{RepositoryID: r.repo, Digest: r.dgst})
	}
	deleted, err := meta.PurgeManifests(ctx, tq, cands)
	return int64(len(expired)), deleted, err
}
