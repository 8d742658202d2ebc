package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// PutTag points tag name of repoID at dgst and records the change in the
// history, returning the previous digest ("" for a new tag). Setting the
// digest the tag already has changes nothing and returns that digest. The
// manifest must be stored in repoID, else ErrNotFound.
func (q *querier) PutTag(ctx context.Context, repoID int64, name string, dgst digest.Digest) (previous digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: put tag %q", name)
	err = q.write(ctx, func(w runner) error {
		err := w.queryRow(ctx, getTagDigestSQL, repoID, name).Scan(&previous)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return classify(err)
		}
		if previous == dgst {
			return nil
		}
		now := nowMicros()
		_, err = w.exec(ctx, upsertTagSQL, repoID, name, string(dgst), now)
		if isFKViolation(err) {
			return errdefs.NotFound("manifest %s not found in repository %d", dgst, repoID)
		}
		if err != nil {
			return classify(err)
		}
		_, err = w.exec(ctx, insertTagEventSQL, repoID, name, string(dgst), string(previous), now)
		return classify(err)
	})
	if err != nil {
		return "", err
	}
	return previous, nil
}

// GetTag returns the tag or ErrNotFound.
func (q *querier) GetTag(ctx context.Context, repoID int64, name string) (_ *meta.Tag, err error) {
	defer errdefs.Wrapf(&err, "sqlite: get tag %q", name)
	t := meta.Tag{RepositoryID: repoID, Name: name}
	var updated int64
	err = q.read.queryRow(ctx, getTagSQL, repoID, name).Scan(&t.Digest, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("tag %q not found in repository %d", name, repoID)
	}
	if err != nil {
		return nil, classify(err)
	}
	t.UpdatedAt = fromMicros(updated)
	return &t, nil
}

// DeleteTag removes the tag, records the deletion (an event with an empty
// Digest) and returns the digest it pointed at; ErrNotFound if absent.
func (q *querier) DeleteTag(ctx context.Context, repoID int64, name string) (dgst digest.Digest, err error) {
	defer errdefs.Wrapf(&err, "sqlite: delete tag %q", name)
	err = q.write(ctx, func(w runner) error {
		err := w.queryRow(ctx, deleteTagSQL, repoID, name).Scan(&dgst)
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFound("tag %q not found in repository %d", name, repoID)
		}
		if err != nil {
			return classify(err)
		}
		_, err = w.exec(ctx, insertTagEventSQL, repoID, name, "", string(dgst), nowMicros())
		return classify(err)
	})
	if err != nil {
		return "", err
	}
	return dgst, nil
}

// ListTags returns up to limit (no limit if limit <= 0) tag names of
// repoID in byte order, strictly after `after`.
func (q *querier) ListTags(ctx context.Context, repoID int64, after string, limit int) (_ []string, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list tags of repository %d after %q", repoID, after)
	rows, err := q.read.query(ctx, listTagsSQL, repoID, after, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	return scanStrings(rows)
}

// ListTagsOf returns, in byte order, the names of the tags of repoID that
// point at dgst.
func (q *querier) ListTagsOf(ctx context.Context, repoID int64, dgst digest.Digest) (_ []string, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list tags of %s", dgst)
	rows, err := q.read.query(ctx, listTagsOfSQL, repoID, string(dgst))
	if err != nil {
		return nil, classify(err)
	}
	return scanStrings(rows)
}

// TagHistory returns the history of tag name, newest first, up to limit
// events (all if limit <= 0).
func (q *querier) TagHistory(ctx context.Context, repoID int64, name string, limit int) (_ []meta.TagEvent, err error) {
	defer errdefs.Wrapf(&err, "sqlite: history of tag %q", name)
	rows, err := q.read.query(ctx, tagHistorySQL, repoID, name, limitArg(limit))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []meta.TagEvent
	for rows.Next() {
		ev := meta.TagEvent{Tag: name}
		var at int64
		if err := rows.Scan(&ev.Digest, &ev.Previous, &at); err != nil {
			return nil, classify(err)
		}
		ev.At = fromMicros(at)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
