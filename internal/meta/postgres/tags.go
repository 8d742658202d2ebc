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

// PutTag points tag name of repoID at dgst, records the change in the
// history and announces it on the change feed, returning the previous
// digest ("" for a new tag). Setting the digest the tag already has changes
// nothing and returns that digest. The manifest must be stored in repoID,
// else ErrNotFound. Concurrent moves of one tag, from any process, are
// serialised on the tag's row lock (see berth_put_tag), so each returns the
// digest it really replaced and records exactly one history row.
func (q *querier) PutTag(ctx context.Context, repoID int64, name string, dgst digest.Digest) (previous digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "postgres: put tag %q", name)
	ch := meta.Change{RepositoryID: repoID, Tag: name}
	err = q.db.QueryRow(ctx, putTagSQL, repoID, name, string(dgst), pgTimeOrNow(time.Time{}), q.notifyArg(ch)).Scan(&previous)
	if isFKViolation(err) {
		return "", errdefs.NotFound("manifest %s not found in repository %d", dgst, repoID)
	}
	if err != nil {
		return "", classify(err)
	}
	if previous != dgst {
		q.record(ch)
	}
	return previous, nil
}

// GetTag returns the tag or ErrNotFound.
func (q *querier) GetTag(ctx context.Context, repoID int64, name string) (_ *meta.Tag, err error) {
	defer errdefs.Wrapf(&err, "postgres: get tag %q", name)
	t := meta.Tag{RepositoryID: repoID, Name: name}
	err = q.db.QueryRow(ctx, getTagSQL, repoID, name).Scan(&t.Digest, &t.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errdefs.NotFound("tag %q not found in repository %d", name, repoID)
	}
	if err != nil {
		return nil, classify(err)
	}
	t.UpdatedAt = t.UpdatedAt.UTC()
	return &t, nil
}

// DeleteTag removes the tag, records the deletion (an event with an empty
// Digest), announces it on the change feed and returns the digest it
// pointed at; ErrNotFound if absent. Of two concurrent deletes one wins,
// the other finds nothing.
func (q *querier) DeleteTag(ctx context.Context, repoID int64, name string) (dgst digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "postgres: delete tag %q", name)
	ch := meta.Change{RepositoryID: repoID, Tag: name}
	err = q.db.QueryRow(ctx, deleteTagSQL, repoID, name, pgTimeOrNow(time.Time{}), q.notifyArg(ch)).Scan(&dgst)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errdefs.NotFound("tag %q not found in repository %d", name, repoID)
	}
	if err != nil {
		return "", classify(err)
	}
	q.record(ch)
	return dgst, nil
}

// ListTags returns up to limit (no limit if limit <= 0) tag names of
// repoID in byte order, strictly after `after`.
func (q *querier) ListTags(ctx context.Context, repoID int64, after string, limit int) (_ []string, err error) {
	defer errdefs.Wrapf(&err, "postgres: list tags of repository %d after %q", repoID, after)
	return queryStrings(ctx, q.db, listTagsSQL, repoID, after, limitArg(limit))
}

// ListTagsOf returns, in byte order, the names of the tags of repoID that
// point at dgst.
func (q *querier) ListTagsOf(ctx context.Context, repoID int64, dgst digest.Digest) (_ []string, err error) {
	defer errdefs.Wrapf(&err, "postgres: list tags of %s", dgst)
	return queryStrings(ctx, q.db, listTagsOfSQL, repoID, string(dgst))
}

// TagHistory returns the history of tag name, newest first, up to limit
// events (all if limit <= 0).
func (q *querier) TagHistory(ctx context.Context, repoID int64, name string, limit int) (_ []meta.TagEvent, err error) {
	defer errdefs.Wrapf(&err, "postgres: history of tag %q", name)
	rows, err := q.db.Query(ctx, tagHistorySQL, repoID, name, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.TagEvent, error) {
		ev := meta.TagEvent{Tag: name}
		err := row.Scan(&ev.Digest, &ev.Previous, &ev.At)
		ev.At = ev.At.UTC()
		return ev, err
	})
	if err != nil {
		return nil, classify(err)
	}
	return out, nil
}
