package transfer

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// txState is what one metadata transaction has done so far: the projects
// it created or found (the transfer learns their IDs only once it
// commits, since a rolled-back or retried transaction created nothing) and
// the audit events it appends at its end.
type txState struct {
	tx       meta.Querier
	projects map[string]int64
	audit    []meta.AuditEvent
}

// loadUser creates the user or, when the destination already has a user
// of that name (such as the admin its first start created), overwrites
// that one with the source's record: the source wins. CreatedAt of an
// existing user is the destination's (UpdateUser keeps it).
func loadUser(ctx context.Context, tx meta.Querier, u meta.User) error {
	cur, err := tx.GetUser(ctx, u.Name)
	switch {
	case errdefs.IsNotFound(err):
		u.ID = 0
		err = tx.CreateUser(ctx, &u)
	case err == nil:
		u.ID = cur.ID
		err = tx.UpdateUser(ctx, &u)
	}
	if err != nil {
		return fmt.Errorf("user %s: %w", u.Name, err)
	}
	return nil
}

// loadProject matches the project by name: one the destination already
// has (migration 00002 makes projects of existing repositories, or an
// earlier transfer made it) takes the source's public flag; otherwise it
// is created with the source's creation time and creator. Members are then
// granted on the destination's ID.
func (t *transfer) loadProject(ctx context.Context, st *txState, dp *meta.DumpedProject) error {
	p := dp.Project
	cur, err := st.tx.GetProject(ctx, p.Name)
	switch {
	case errdefs.IsNotFound(err):
		p.ID = 0
		err = st.tx.CreateProject(ctx, &p)
	case err == nil:
		p.ID = cur.ID
		if cur.Public != p.Public {
			err = st.tx.UpdateProject(ctx, &p)
		}
	}
	if err != nil {
		return fmt.Errorf("project %s: %w", p.Name, err)
	}
	st.projects[p.Name] = p.ID
	for _, m := range dp.Members {
		m.ProjectID = p.ID
		if err := st.tx.PutMember(ctx, m); err != nil {
			return fmt.Errorf("project %s: %s member %s: %w", p.Name, m.Kind, m.Name, err)
		}
	}
	return nil
}

// projectID is the destination's ID of the project called name, created or
// found earlier in this transaction or in a committed one.
func (t *transfer) projectID(st *txState, name string) (int64, error) {
	if id, ok := st.projects[name]; ok {
		return id, nil
	}
	if id, ok := t.projects[name]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("project %s was not in the dump before its robots", name)
}

// loadRobot creates the robot in the destination's project of the same
// name, or updates the destination's robot of the same name, keeping the
// secret hash, permissions, expiry and last use.
func (t *transfer) loadRobot(ctx context.Context, st *txState, dr *meta.DumpedRobot) (err error) {
	r := dr.Robot
	defer func() {
		if err != nil {
			err = fmt.Errorf("robot %s: %w", r.Name, err)
		}
	}()
	r.ProjectID = 0
	if dr.Project != "" {
		if r.ProjectID, err = t.projectID(st, dr.Project); err != nil {
			return err
		}
	}
	cur, err := st.tx.GetRobot(ctx, r.Name)
	switch {
	case errdefs.IsNotFound(err):
		r.ID = 0
		return st.tx.CreateRobot(ctx, &r)
	case err != nil:
		return err
	case cur.ProjectID != r.ProjectID:
		return errdefs.Conflict("the destination has a robot of that name in another project (%d, not %d)",
			cur.ProjectID, r.ProjectID)
	}
	r.ID = cur.ID
	if err := st.tx.UpdateRobot(ctx, &r); err != nil {
		return err
	}
	if r.LastUsedAt.IsZero() {
		return nil
	}
	return st.tx.TouchRobot(ctx, r.ID, r.LastUsedAt)
}

// auditKey is everything of an audit event but its ID, with the time at the
// stores' precision (microseconds).
type auditKey struct {
	at                                                           int64
	kind, actor, remote, action, project, resource, outcome, det string
}

func keyOf(e meta.AuditEvent) auditKey {
	return auditKey{e.At.UnixMicro(), e.ActorKind, e.Actor, e.Remote, e.Action, e.Project, e.Resource, e.Outcome, e.Detail}
}

// appendAudit appends the transaction's audit events (with new IDs and
// their own times), except those the destination held before this transfer
// started (IDs up to t.auditSeen): an earlier transfer appended them. Equal
// events count: the destination must hold as many copies as the batch.
func (t *transfer) appendAudit(ctx context.Context, st *txState) error {
	if len(st.audit) == 0 {
		return nil
	}
	have := map[auditKey]int{}
	if t.auditSeen > 0 {
		lo, hi := st.audit[0].At, st.audit[0].At
		for _, e := range st.audit[1:] {
			lo, hi = minTime(lo, e.At), maxTime(hi, e.At)
		}
		old, err := st.tx.ListAudit(ctx, meta.AuditFilter{Since: lo, Until: hi.Add(time.Microsecond), BeforeID: t.auditSeen + 1})
		if err != nil {
			return fmt.Errorf("read the destination's audit log: %w", err)
		}
		for _, e := range old {
			have[keyOf(e)]++
		}
	}
	var add []meta.AuditEvent
	for _, e := range st.audit {
		if k := keyOf(e); have[k] > 0 {
			have[k]--
			continue
		}
		e.ID = 0
		add = append(add, e)
	}
	if err := st.tx.AppendAudit(ctx, add); err != nil {
		return fmt.Errorf("append %d audit events: %w", len(add), err)
	}
	return nil
}

// lastAuditID is the ID of the destination's newest audit event (0 if its
// log is empty).
func lastAuditID(ctx context.Context, m meta.Store) (int64, error) {
	last, err := m.ListAudit(ctx, meta.AuditFilter{Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("read the destination's audit log: %w", err)
	}
	if len(last) == 0 {
		return 0, nil
	}
	return last[0].ID, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
