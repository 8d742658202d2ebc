package postgres

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/jackc/pgx/v5"
)

const auditCols = `id, at, actor_kind, actor, remote, action, project, resource, outcome, detail`

// The audit log. ListAudit builds its statement from the filter (auditQuery).
const (
	// The events arrive as one array per column and are inserted in their
	// order (ordinality), which is the order their ids are drawn in.
	insertAuditSQL = `INSERT INTO audit_log (at, actor_kind, actor, remote, action, project,
		resource, outcome, detail)
		SELECT e.at, e.actor_kind, e.actor, e.remote, e.action, e.project, e.resource, e.outcome, e.detail
		FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::text[], $8::text[], $9::text[]) WITH ORDINALITY
			AS e (at, actor_kind, actor, remote, action, project, resource, outcome, detail, n)
		ORDER BY e.n
		RETURNING id`
	pruneAuditSQL = `DELETE FROM audit_log WHERE at < $1`
)

// AppendAudit stores events in order (At defaults to now) in one statement
// and sets the ID of each element of events to the one assigned.
func (q *querier) AppendAudit(ctx context.Context, events []meta.AuditEvent) (err error) {
	defer errdefs.Wrapf(&err, "postgres: append %d audit events", len(events))
	if len(events) == 0 {
		return nil
	}
	var (
		ats  = make([]time.Time, len(events))
		cols [8][]string
	)
	for i, e := range events {
		ats[i] = pgTimeOrNow(e.At)
		for c, v := range [8]string{e.ActorKind, e.Actor, e.Remote, e.Action, e.Project, e.Resource, e.Outcome, e.Detail} {
			cols[c] = append(cols[c], v)
		}
	}
	rows, err := q.db.Query(ctx, insertAuditSQL, ats, cols[0], cols[1], cols[2], cols[3], cols[4],
		cols[5], cols[6], cols[7])
	if err != nil {
		return classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return classify(err)
	}
	if len(ids) != len(events) {
		return errdefs.Unavailable("stored %d of %d audit events", len(ids), len(events))
	}
	// RETURNING promises no order; the ids were drawn in event order.
	slices.Sort(ids)
	for i := range events {
		events[i].ID = ids[i]
	}
	return nil
}

// auditQuery builds the statement and arguments that select f, newest
// (highest id) first. Only the conditions f sets are in the text, so each
// combination gets a plan that uses the index it can.
func auditQuery(f meta.AuditFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, val any) {
		args = append(args, val)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	for _, c := range []struct {
		col, val string
	}{{"actor", f.Actor}, {"action", f.Action}, {"project", f.Project}, {"outcome", f.Outcome}} {
		if c.val != "" {
			add(c.col+" = ?", c.val)
		}
	}
	if f.Resource != "" {
		add("starts_with(resource, ?::text)", f.Resource)
	}
	if !f.Since.IsZero() {
		add("at >= ?", pgTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", pgTime(f.Until))
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	var b strings.Builder
	b.WriteString("SELECT " + auditCols + " FROM audit_log")
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	args = append(args, limitArg(f.Limit))
	b.WriteString(" ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args)))
	return b.String(), args
}

func scanAudit(row pgx.Row) (*meta.AuditEvent, error) {
	var e meta.AuditEvent
	err := row.Scan(&e.ID, &e.At, &e.ActorKind, &e.Actor, &e.Remote, &e.Action, &e.Project,
		&e.Resource, &e.Outcome, &e.Detail)
	if err != nil {
		return nil, err
	}
	e.At = e.At.UTC()
	return &e, nil
}

// ListAudit returns the events f selects, newest (highest ID) first: each
// set field must match exactly, Resource as a prefix; Since is inclusive
// and Until exclusive; BeforeID pages; Limit <= 0 means no limit.
func (q *querier) ListAudit(ctx context.Context, f meta.AuditFilter) (_ []meta.AuditEvent, err error) {
	defer errdefs.Wrapf(&err, "postgres: list audit events")
	query, args := auditQuery(f)
	return queryAll(ctx, q.db, scanAudit, query, args...)
}

// PruneAudit deletes the events that happened before `before` and returns
// how many.
func (q *querier) PruneAudit(ctx context.Context, before time.Time) (_ int64, err error) {
	defer errdefs.Wrapf(&err, "postgres: prune audit events before %s", before)
	tag, err := q.db.Exec(ctx, pruneAuditSQL, pgTime(before))
	if err != nil {
		return 0, classify(err)
	}
	return tag.RowsAffected(), nil
}
