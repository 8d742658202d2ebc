package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

const auditCols = `id, at, actor_kind, actor, remote, action, project, resource, outcome, detail`

// The audit log. ListAudit builds its statement from the filter (auditQuery).
var (
	insertAuditSQL = stmt(`INSERT INTO audit_log (at, actor_kind, actor, remote, action, project,
		resource, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	pruneAuditSQL = stmt(`DELETE FROM audit_log WHERE at < ?`)
)

// AppendAudit stores events in order (At defaults to now) and sets the ID
// of each element of events to the one assigned.
func (q *querier) AppendAudit(ctx context.Context, events []meta.AuditEvent) (err error) {
	defer errdefs.Wrapf(&err, "sqlite: append %d audit events", len(events))
	if len(events) == 0 {
		return nil
	}
	ids := make([]int64, len(events))
	err = q.write(ctx, func(w runner) error {
		for i, e := range events {
			res, err := w.exec(ctx, insertAuditSQL, microsOrNow(e.At), e.ActorKind, e.Actor, e.Remote,
				e.Action, e.Project, e.Resource, e.Outcome, e.Detail)
			if err != nil {
				return classify(err)
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return classify(err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
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
	add := func(cond string, vals ...any) {
		where = append(where, cond)
		args = append(args, vals...)
	}
	for _, c := range []struct {
		col, val string
	}{{"actor", f.Actor}, {"action", f.Action}, {"project", f.Project}, {"outcome", f.Outcome}} {
		if c.val != "" {
			add(c.col+" = ?", c.val)
		}
	}
	if f.Resource != "" {
		add("substr(resource, 1, length(?)) = ?", f.Resource, f.Resource)
	}
	if !f.Since.IsZero() {
		add("at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", micros(f.Until))
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	var b strings.Builder
	b.WriteString("SELECT " + auditCols + " FROM audit_log")
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY id DESC LIMIT ?")
	args = append(args, limitArg(f.Limit))
	return b.String(), args
}

func scanAudit(row scanner) (*meta.AuditEvent, error) {
	var (
		e  meta.AuditEvent
		at int64
	)
	err := row.Scan(&e.ID, &at, &e.ActorKind, &e.Actor, &e.Remote, &e.Action, &e.Project,
		&e.Resource, &e.Outcome, &e.Detail)
	if err != nil {
		return nil, err
	}
	e.At = fromMicros(at)
	return &e, nil
}

// ListAudit returns the events f selects, newest (highest ID) first: each
// set field must match exactly, Resource as a prefix; Since is inclusive
// and Until exclusive; BeforeID pages; Limit <= 0 means no limit.
func (q *querier) ListAudit(ctx context.Context, f meta.AuditFilter) (_ []meta.AuditEvent, err error) {
	defer errdefs.Wrapf(&err, "sqlite: list audit events")
	query, args := auditQuery(f)
	rows, err := q.read.query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	return scanAll(rows, scanAudit)
}

// PruneAudit deletes the events that happened before `before` and returns
// how many.
func (q *querier) PruneAudit(ctx context.Context, before time.Time) (_ int64, err error) {
	defer errdefs.Wrapf(&err, "sqlite: prune audit events before %s", before)
	var pruned int64
	err = q.write(ctx, func(w runner) error {
		n, err := affected(w.exec(ctx, pruneAuditSQL, micros(before)))
		pruned = n
		return classify(err)
	})
	if err != nil {
		return 0, err
	}
	return pruned, nil
}
