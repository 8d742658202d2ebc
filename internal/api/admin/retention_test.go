package admin_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/admintest"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

// expireAll expires every tag of the project at once.
const expireAll = `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["*"],"countType":"always"}}]}`

// seedRetention stores a manifest tagged v1 and old in team/api, straight
// in the store (the registry's rules are not under test here).
func seedRetention(t *testing.T, s *admintest.Server) digest.Digest {
	t.Helper()
	ctx := t.Context()
	repo, err := s.Store.EnsureRepository(ctx, "team/api")
	if err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	m := &meta.Manifest{RepositoryID: repo.ID, Digest: digest.FromBytes(content), Content: content,
		MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(content)), PushedAt: time.Now()}
	if err := s.Store.PutManifest(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v1", "old"} {
		if _, err := s.Store.PutTag(ctx, repo.ID, tag, m.Digest); err != nil {
			t.Fatal(err)
		}
	}
	return m.Digest
}

// waitRun polls run id until it ends.
func waitRun(t *testing.T, s *admintest.Server, id int64) wire.RetentionRun {
	t.Helper()
	for range 500 {
		var got wire.RetentionRun
		send(t, s, alice, "GET", "/api/v1/projects/team/retention/runs/"+itoa(id), nil).decodeInto(t, &got)
		switch got.Status {
		case "succeeded", "failed", "interrupted":
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("run %d did not end", id)
	return wire.RetentionRun{}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// runOn runs steps on s (run starts a world of its own).
func runOn(t *testing.T, s *admintest.Server, steps []step) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := send(t, s, st.as, st.method, st.path, st.body)
			if r.status != st.status {
				t.Fatalf("%s %s as %q: status %d, want %d; body %s", st.method, st.path, st.as.user, r.status, st.status, r.body)
			}
			if code := r.errCode(); code != st.code {
				t.Errorf("error code %q, want %q; body %s", code, st.code, r.body)
			}
			if st.check != nil {
				st.check(t, r)
			}
		})
	}
}

func TestRetentionAPI(t *testing.T) {
	s := world(t)
	dgst := seedRetention(t, s)
	policy := wire.RetentionPolicy{Policy: json.RawMessage(expireAll), Schedule: "daily@03:00", Enabled: true}
	runOn(t, s, []step{
		{name: "get before any", as: alice, method: "GET", path: "/api/v1/projects/team/retention", status: 404, code: "NOT_FOUND"},
		{name: "set as guest", as: bob, method: "PUT", path: "/api/v1/projects/team/retention", status: 403, code: "DENIED", body: policy},
		{name: "set in hidden project", as: carol, method: "PUT", path: "/api/v1/projects/team/retention", status: 404, code: "NOT_FOUND", body: policy},
		{name: "set bad policy", as: alice, method: "PUT", path: "/api/v1/projects/team/retention", status: 400, code: "INVALID",
			body: wire.RetentionPolicy{Policy: json.RawMessage(`{"rules":[{"rulePriority":0}]}`)}},
		{name: "set bad schedule", as: alice, method: "PUT", path: "/api/v1/projects/team/retention", status: 400, code: "INVALID",
			body: wire.RetentionPolicy{Policy: json.RawMessage(expireAll), Schedule: "hourly"}},
		{name: "set", as: alice, method: "PUT", path: "/api/v1/projects/team/retention", status: 200, body: policy,
			check: func(t *testing.T, r response) {
				var got wire.RetentionPolicy
				r.decodeInto(t, &got)
				if got.Schedule != "daily@03:00" || !got.Enabled || got.NextRunAt == "" || got.UpdatedBy != "alice" {
					t.Errorf("policy = %+v", got)
				}
				var a, b any
				_ = json.Unmarshal(got.Policy, &a)
				_ = json.Unmarshal([]byte(expireAll), &b)
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if !bytes.Equal(ja, jb) {
					t.Errorf("policy document = %s; want %s", got.Policy, expireAll)
				}
			}},
		{name: "get as guest", as: bob, method: "GET", path: "/api/v1/projects/team/retention", status: 200},
		{name: "run as guest", as: bob, method: "POST", path: "/api/v1/projects/team/retention/runs", status: 403, code: "DENIED",
			body: wire.NewRetentionRun{DryRun: true}},
		{name: "runs of a hidden project", as: carol, method: "GET", path: "/api/v1/projects/team/retention/runs", status: 404, code: "NOT_FOUND"},
		{name: "missing run", as: alice, method: "GET", path: "/api/v1/projects/team/retention/runs/99", status: 404, code: "NOT_FOUND"},
		{name: "restore nothing", as: alice, method: "POST", path: "/api/v1/projects/team/retention/trash/restore", status: 404, code: "NOT_FOUND",
			body: wire.RestoreRequest{Repository: "team/api", Tag: "v1"}},
		{name: "restore outside the project", as: alice, method: "POST", path: "/api/v1/projects/team/retention/trash/restore", status: 400, code: "INVALID",
			body: wire.RestoreRequest{Repository: "open/api", Tag: "v1"}},
	})

	// A dry run reports, a run deletes the same, restore puts a tag back.
	var dry wire.RetentionRun
	r := send(t, s, alice, "POST", "/api/v1/projects/team/retention/runs", wire.NewRetentionRun{DryRun: true})
	if r.status != 202 {
		t.Fatalf("start dry run: %d %s", r.status, r.body)
	}
	r.decodeInto(t, &dry)
	if got := waitRun(t, s, dry.ID); got.Status != "succeeded" || got.Progress.TagsExamined != 2 {
		t.Fatalf("dry run = %+v", got)
	}
	var report wire.RetentionReport
	send(t, s, bob, "GET", "/api/v1/projects/team/retention/runs/"+itoa(dry.ID)+"/report", nil).decodeInto(t, &report)
	if len(report.Decisions) != 3 || report.Decisions[0].Outcome != "would delete" || report.Decisions[2].Digest != dgst.String() {
		t.Fatalf("dry report = %+v; want old, v1 and their manifest", report)
	}
	var real wire.RetentionRun
	send(t, s, alice, "POST", "/api/v1/projects/team/retention/runs", wire.NewRetentionRun{}).decodeInto(t, &real)
	if got := waitRun(t, s, real.ID); got.Status != "succeeded" || got.Progress.TagsDeleted != 2 || got.Progress.ManifestsDeleted != 1 {
		t.Fatalf("run = %+v", got)
	}
	var trash wire.TrashList
	send(t, s, bob, "GET", "/api/v1/projects/team/retention/trash", nil).decodeInto(t, &trash)
	if len(trash.Entries) != 3 {
		t.Fatalf("trash = %+v", trash)
	}
	if r := send(t, s, bob, "POST", "/api/v1/projects/team/retention/trash/restore", wire.RestoreRequest{Repository: "team/api", Tag: "v1"}); r.status != 403 {
		t.Fatalf("restore as guest: %d", r.status)
	}
	if r := send(t, s, alice, "POST", "/api/v1/projects/team/retention/trash/restore", wire.RestoreRequest{Repository: "team/api", Tag: "v1"}); r.status != 200 {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	repo, _ := s.Store.GetRepository(t.Context(), "team/api")
	if tag, err := s.Store.GetTag(t.Context(), repo.ID, "v1"); err != nil || tag.Digest != dgst {
		t.Fatalf("restored tag = %+v, %v", tag, err)
	}
	var runs wire.RetentionRunList
	send(t, s, bob, "GET", "/api/v1/projects/team/retention/runs", nil).decodeInto(t, &runs)
	if len(runs.Runs) != 2 || runs.Runs[0].ID != real.ID {
		t.Fatalf("runs = %+v", runs)
	}
	if r := send(t, s, bob, "DELETE", "/api/v1/projects/team/retention", nil); r.status != 403 {
		t.Fatalf("delete as guest: %d", r.status)
	}
	if r := send(t, s, alice, "DELETE", "/api/v1/projects/team/retention", nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	s.FlushAudit(t)
	events, err := s.Audit.List(t.Context(), meta.AuditFilter{Project: "team"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range events {
		seen[e.Action+" "+e.Outcome]++
	}
	for _, want := range []string{"retention.set success", "retention.set denied", "retention.run success",
		"retention.restore success", "retention.delete success"} {
		if seen[want] == 0 {
			t.Errorf("no %q audit event (got %v)", want, seen)
		}
	}
}
