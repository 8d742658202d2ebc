package admin_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/google/go-cmp/cmp"
)

// auditWorld is a world with some management history: events in team
// (alice's), in open (the admin's) and on users.
func auditWorld(t *testing.T) *admintest.Server {
	t.Helper()
	s := world(t)
	for _, st := range []struct {
		as           caller
		method, path string
		body         any
	}{
		{root, "PATCH", "/api/v1/projects/open", `{"public":false}`},
		{alice, "PUT", "/api/v1/projects/team/members", wire.Member{Kind: "group", Name: "qa", Role: "guest"}},
		{bob, "PUT", "/api/v1/projects/team/members", wire.Member{Kind: "group", Name: "qa", Role: "projectAdmin"}},
	} {
		send(t, s, st.as, st.method, st.path, st.body)
	}
	s.FlushAudit(t)
	return s
}

func eventKeys(l wire.AuditList) []string {
	var out []string
	for _, e := range l.Events {
		out = append(out, e.Actor+" "+e.Action+" "+e.Project+" "+e.Outcome)
	}
	return out
}

func TestAuditList(t *testing.T) {
	s := auditWorld(t)
	// The fixtures' own events (users, projects and members the admin
	// made) come first in time; the last three are the scenario's.
	r := send(t, s, root, "GET", "/api/v1/audit?limit=3", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var page wire.AuditList
	r.decodeInto(t, &page)
	want := []string{"bob member.put team denied", "alice member.put team success", "admin project.update open success"}
	if diff := cmp.Diff(want, eventKeys(page)); diff != "" {
		t.Fatalf("newest events (-want +got):\n%s", diff)
	}
	if page.Next == "" || !strings.Contains(r.header.Get("Link"), "before="+page.Next) || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
		t.Errorf("next %q, Link %q", page.Next, r.header.Get("Link"))
	}
	next := send(t, s, root, "GET", "/api/v1/audit?limit=3&before="+page.Next, nil)
	var page2 wire.AuditList
	next.decodeInto(t, &page2)
	if len(page2.Events) == 0 || page2.Events[0].ID >= page.Events[2].ID {
		t.Errorf("second page does not continue the first: %s", next.body)
	}

	tests := []struct {
		name   string
		as     caller
		query  string
		status int
		want   []string
	}{
		{"filter action and outcome", root, "action=member.put&outcome=denied", 200, []string{"bob member.put team denied"}},
		{"filter actor", root, "actor=alice", 200, []string{"alice member.put team success"}},
		{"filter since excludes the past", root, "since=2026-11-02T00:00:00Z", 200, nil},
		{"project admin sees own project", alice, "", 200, nil}, // checked below: only team events
		{"project admin filters own project", alice, "project=team&outcome=denied", 200, []string{"bob member.put team denied"}},
		{"project admin may not read another", alice, "project=open", 403, nil},
		{"guest may not read", bob, "project=team", 403, nil},
		{"outsider may not read", carol, "", 403, nil},
		{"bad since", root, "since=yesterday", 400, nil},
		{"bad before", root, "before=x", 400, nil},
		{"bad limit", root, "limit=5000", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, s, tt.as, "GET", "/api/v1/audit?"+tt.query, nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status != 200 {
				return
			}
			var l wire.AuditList
			r.decodeInto(t, &l)
			if tt.as == alice {
				for _, e := range l.Events {
					if e.Project != "team" {
						t.Errorf("alice sees an event of %q: %+v", e.Project, e)
					}
				}
				if tt.query == "" && len(l.Events) == 0 {
					t.Error("alice sees no event of her project")
				}
				if tt.query == "" {
					return
				}
			}
			if diff := cmp.Diff(tt.want, eventKeys(l)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuditExport(t *testing.T) {
	s := auditWorld(t)
	all := send(t, s, root, "GET", "/api/v1/audit?limit=1000", nil)
	var l wire.AuditList
	all.decodeInto(t, &l)

	r := send(t, s, root, "GET", "/api/v1/audit/export", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/jsonl" {
		t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var ids []int64
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var e struct {
			ID     int64  `json:"id"`
			Action string `json:"action"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		ids = append(ids, e.ID)
	}
	var want []int64
	for _, e := range l.Events {
		want = append(want, e.ID)
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("exported ids (-want +got):\n%s", diff)
	}

	limited := send(t, s, root, "GET", "/api/v1/audit/export?limit=2", nil)
	if n := bytes.Count(limited.body, []byte("\n")); n != 2 {
		t.Errorf("limit=2 exported %d lines", n)
	}
	if r := send(t, s, bob, "GET", "/api/v1/audit/export", nil); r.status != 403 || r.errCode() != "DENIED" {
		t.Errorf("guest export: %d %s", r.status, r.body)
	}
}
