package metatest

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

func auditTests() []test {
	return []test{
		{"AppendAssignsIDsInOrder", testAuditIDs},
		{"Filters", testAuditFilters},
		{"Paging", testAuditPaging},
		{"Prune", testAuditPrune},
	}
}

// auditEvents is a small log, oldest first, one minute apart.
func auditEvents() []meta.AuditEvent {
	ev := func(minute int, actor, action, project, resource, outcome string) meta.AuditEvent {
		kind := "user"
		switch {
		case actor == "":
			kind = "anonymous"
		case strings.HasPrefix(actor, "robot$"):
			kind = "robot"
		}
		return meta.AuditEvent{At: at(time.Duration(minute) * time.Minute), ActorKind: kind, Actor: actor,
			Remote: "192.0.2.1", Action: action, Project: project, Resource: resource,
			Outcome: outcome, Detail: "event " + action}
	}
	return []meta.AuditEvent{
		ev(0, "alice", "login", "", "alice", "success"),                            // 0
		ev(1, "alice", "artifact.push", "team", "team/api:v1", "success"),          // 1
		ev(2, "robot$team+ci", "artifact.pull", "team", "team/api:v1", "success"),  // 2
		ev(3, "bob", "artifact.push", "team", "team/apiserver:v1", "denied"),       // 3
		ev(4, "", "artifact.pull", "other", "other/web:latest", "denied"),          // 4
		ev(5, "alice", "member.put", "team", "team", "success"),                    // 5
		ev(6, "bob", "login", "", "bob", "failure"),                                // 6
		ev(7, "alice", "artifact.delete", "team", "team/api@sha256:ab", "success"), // 7
		ev(8, "robot$team+ci", "artifact.push", "Team", "Team/api:v2", "success"),  // 8
		ev(9, "alice", "artifact.pull", "team", "team/api/sub:v1", "success"),      // 9
		ev(10, "alice", "artifact.push", "team_x", "team_x/api:v1", "success"),     // 10
		ev(11, "carol", "artifact.push", "team%", "team%/api:v1", "success"),       // 11
		ev(12, "system", "audit.prune", "", "", "success"),                         // 12
		ev(13, "alice", "artifact.push", "team", "team/api:v3", "failure"),         // 13
		ev(14, "robot$team+ci", "artifact.pull", "team", "team/web:v1", "success"), // 14
		ev(15, "alice", "artifact.pull", "team", "team/api:v1", "success"),         // 15
		ev(16, "dave", "login", "", "dave", "success"),                             // 16
		ev(17, "alice", "artifact.push", "team", "team/API:v1", "success"),         // 17
		ev(18, "alice", "robot.create", "team", "robot$team+ci", "success"),        // 18
		ev(19, "alice", "artifact.push", "team", "team/api:v1", "success"),         // 19
	}
}

// mustAppendAudit stores events and returns them with their IDs.
func mustAppendAudit(t *testing.T, q meta.Querier, events []meta.AuditEvent) []meta.AuditEvent {
	t.Helper()
	if err := q.AppendAudit(t.Context(), events); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	got, err := q.ListAudit(t.Context(), meta.AuditFilter{Limit: len(events)})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(got) != len(events) {
		t.Fatalf("ListAudit returned %d events, want the %d appended", len(got), len(events))
	}
	// Newest first: the last appended comes first.
	out := make([]meta.AuditEvent, len(got))
	for i := range got {
		out[len(got)-1-i] = got[i]
	}
	return out
}

func testAuditIDs(t *testing.T, s meta.Store) {
	events := auditEvents()
	first := mustAppendAudit(t, s, events[:3])
	second := mustAppendAudit(t, s, events[3:5])
	all := append(first, second...)
	for i, e := range all {
		if i > 0 && e.ID <= all[i-1].ID {
			t.Errorf("event %d has ID %d, not above the one before (%d)", i, e.ID, all[i-1].ID)
		}
		want := events[i]
		want.ID = e.ID
		adiff(t, "stored event", want, e)
		wantUTC(t, "At", e.At)
	}
	if err := s.AppendAudit(t.Context(), nil); err != nil {
		t.Errorf("AppendAudit of nothing: %v", err)
	}
}

func testAuditFilters(t *testing.T, s meta.Store) {
	events := mustAppendAudit(t, s, auditEvents())
	// idx lists events by index, given oldest first; results are newest first.
	idx := func(is ...int) []int { return is }
	tests := []struct {
		name string
		f    meta.AuditFilter
		want []int
	}{
		{"actor", meta.AuditFilter{Actor: "bob"}, idx(6, 3)},
		{"robot actor", meta.AuditFilter{Actor: "robot$team+ci"}, idx(14, 8, 2)},
		{"action", meta.AuditFilter{Action: "login"}, idx(16, 6, 0)},
		{"project is exact", meta.AuditFilter{Project: "other"}, idx(4)},
		{"project is case-sensitive", meta.AuditFilter{Project: "Team"}, idx(8)},
		{"outcome", meta.AuditFilter{Outcome: "denied"}, idx(4, 3)},
		{"resource prefix", meta.AuditFilter{Resource: "team/api"}, idx(19, 15, 13, 9, 7, 3, 2, 1)},
		{"resource prefix with a separator", meta.AuditFilter{Resource: "team/api:"}, idx(19, 15, 13, 2, 1)},
		{"resource prefix is not a pattern", meta.AuditFilter{Resource: "team_"}, idx(10)},
		{"resource prefix with a percent sign", meta.AuditFilter{Resource: "team%"}, idx(11)},
		{"resource exact", meta.AuditFilter{Resource: "team/api:v1"}, idx(19, 15, 2, 1)},
		{"resource prefix is case-sensitive", meta.AuditFilter{Resource: "team/API"}, idx(17)},
		{"since", meta.AuditFilter{Since: at(17*time.Minute - time.Second)}, idx(19, 18, 17)},
		{"until", meta.AuditFilter{Until: at(time.Minute + time.Second)}, idx(1, 0)},
		{"since and until", meta.AuditFilter{Since: at(4*time.Minute + time.Second), Until: at(7*time.Minute - time.Second)},
			idx(6, 5)},
		{"limit", meta.AuditFilter{Actor: "alice", Limit: 2}, idx(19, 18)},
		{"all fields", meta.AuditFilter{Actor: "alice", Action: "artifact.push", Project: "team", Outcome: "success",
			Resource: "team/api", Since: at(0), Until: at(19*time.Minute - time.Second)}, idx(1)},
		{"before id", meta.AuditFilter{Actor: "bob", BeforeID: events[6].ID}, idx(3)},
		{"no match", meta.AuditFilter{Actor: "alice", Outcome: "denied"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAudit(t.Context(), tc.f)
			if err != nil {
				t.Fatalf("ListAudit(%+v): %v", tc.f, err)
			}
			var want []meta.AuditEvent
			for _, i := range tc.want {
				want = append(want, events[i])
			}
			adiff(t, "events", want, got)
		})
	}
}

func testAuditPaging(t *testing.T, s meta.Store) {
	events := mustAppendAudit(t, s, auditEvents())
	for _, f := range []meta.AuditFilter{{Limit: 3}, {Limit: 1, Actor: "alice"}, {Limit: 7, Resource: "team/"}} {
		var (
			got  []meta.AuditEvent
			want []meta.AuditEvent
		)
		all, err := s.ListAudit(t.Context(), meta.AuditFilter{Actor: f.Actor, Resource: f.Resource})
		if err != nil {
			t.Fatal(err)
		}
		want = all
		for range len(events) + 1 {
			page, err := s.ListAudit(t.Context(), f)
			if err != nil {
				t.Fatalf("ListAudit(%+v): %v", f, err)
			}
			if len(page) > f.Limit {
				t.Fatalf("ListAudit(%+v) returned %d events", f, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			f.BeforeID = page[len(page)-1].ID
		}
		adiff(t, "paged events", want, got)
	}
}

func testAuditPrune(t *testing.T, s meta.Store) {
	ctx := t.Context()
	events := mustAppendAudit(t, s, auditEvents())
	steps := []struct {
		name   string
		before time.Time
		want   int64
		left   int
	}{
		{"nothing older", at(-time.Hour), 0, 20},
		{"the first five", at(5 * time.Minute), 5, 15},
		{"again", at(5 * time.Minute), 0, 15},
		{"up to a point between events", at(7*time.Minute + time.Second), 3, 12},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.PruneAudit(ctx, st.before)
			if err != nil {
				t.Fatalf("PruneAudit: %v", err)
			}
			if n != st.want {
				t.Errorf("PruneAudit = %d, want %d", n, st.want)
			}
			left, err := s.ListAudit(ctx, meta.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != st.left {
				t.Fatalf("%d events left, want %d", len(left), st.left)
			}
			adiff(t, "oldest left", events[len(events)-st.left], left[len(left)-1])
		})
	}
}
