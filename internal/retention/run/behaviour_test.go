package run_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/retention/run"
	"github.com/google/go-cmp/cmp"
)

func TestMovedTagIsSkipped(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	var moved bool
	e.svc.SetBeforeApply(func(repo string) {
		if repo == "app/api" && !moved {
			moved = true
			e.push(t, "app/api", "dev-1", "api dev 1, rebuilt")
		}
	})
	r := e.runNow(t, false)
	got := e.report(t, r.ID)
	var dev1 string
	for _, l := range got {
		if len(l) > len("app/api:dev-1 ") && l[:len("app/api:dev-1 ")] == "app/api:dev-1 " {
			dev1 = l
		}
	}
	if dev1 != "app/api:dev-1 skipped" {
		t.Fatalf("report line of the moved tag = %q; want skipped (report %v)", dev1, got)
	}
	if _, err := e.reg.GetManifest(t.Context(), "app/api", "dev-1", false); err != nil {
		t.Fatalf("the moved tag was deleted: %v", err)
	}
	if r.Progress.TagsSkipped != 1 || r.Progress.TagsDeleted != 2 {
		t.Fatalf("progress = %+v; want 1 skipped, 2 deleted", r.Progress)
	}
}

func TestRestoreThenPurge(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	dev1, err := e.reg.GetManifest(t.Context(), "app/api", "dev-1", false)
	if err != nil {
		t.Fatal(err)
	}
	dev2, err := e.reg.GetManifest(t.Context(), "app/api", "dev-2", false)
	if err != nil {
		t.Fatal(err)
	}
	e.runNow(t, false)
	if _, err := e.svc.Restore(t.Context(), "app", "app/api", "dev-1", ""); err != nil {
		t.Fatalf("Restore within the window: %v", err)
	}
	if got, err := e.reg.GetManifest(t.Context(), "app/api", "dev-1", false); err != nil || got.Digest != dev1.Digest {
		t.Fatalf("restored dev-1 = %v, %v; want %s", got, err, dev1.Digest)
	}
	_, err = e.svc.Restore(t.Context(), "app", "app/api", "dev-1", "")
	if !errdefs.IsNotFound(err) {
		t.Fatalf("Restore twice: %v; want not found", err)
	}
	_, err = e.svc.Restore(t.Context(), "app", "other/api", "dev-1", "")
	if !errdefs.IsInvalid(err) {
		t.Fatalf("Restore in another project's repository: %v; want invalid", err)
	}
	// Within the window the purge keeps everything.
	if err := e.svc.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if _, err := e.reg.GetManifest(t.Context(), "app/api", dev2.Digest.String(), false); err != nil {
		t.Fatalf("dev-2's manifest went before the window ended: %v", err)
	}
	e.clock.Advance(window + time.Hour)
	if err := e.svc.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if _, err := e.reg.GetManifest(t.Context(), "app/api", dev2.Digest.String(), false); !errdefs.IsNotFound(err) {
		t.Fatalf("dev-2's manifest after the window: %v; want not found", err)
	}
	if _, err := e.reg.GetManifest(t.Context(), "app/api", "dev-1", false); err != nil {
		t.Fatalf("restored dev-1 after the purge: %v", err)
	}
	if _, err := e.svc.Restore(t.Context(), "app", "app/api", "dev-2", ""); !errdefs.IsNotFound(err) {
		t.Fatalf("Restore after the purge: %v; want not found", err)
	}
	if trash, err := e.svc.Trash(t.Context(), "app", 0, 0); err != nil || len(trash) != 0 {
		t.Fatalf("trash after the purge = %+v, %v; want empty", trash, err)
	}
}

func TestInterruptedRunThenNextCompletes(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	rs, _ := meta.RetentionOf(e.meta)
	p, _ := e.meta.GetProject(t.Context(), "app")
	// A run some process claimed and then died working.
	dead := &meta.RetentionRun{ProjectID: p.ID, Trigger: run.TriggerManual}
	if err := rs.CreateRetentionRun(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	if ok, err := rs.ClaimRetentionRun(t.Context(), dead.ID, "dead-node", e.clock.Now()); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	if err := e.svc.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.GetRun(t.Context(), "app", dead.ID); got.Status != meta.RunRunning {
		t.Fatalf("a run with a fresh heartbeat was marked %s", got.Status)
	}
	e.clock.Advance(10 * time.Minute)
	if err := e.svc.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, _ := e.svc.GetRun(t.Context(), "app", dead.ID)
	if got.Status != meta.RunInterrupted || !strings.Contains(got.Error, "dead-node") || got.FinishedAt.IsZero() {
		t.Fatalf("dead run = %+v; want interrupted with a reason", got)
	}
	next := e.runNow(t, false)
	if next.Progress.TagsDeleted != 3 {
		t.Fatalf("next run progress = %+v", next.Progress)
	}
}

func TestQueuedRunIsPickedUp(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	rs, _ := meta.RetentionOf(e.meta)
	p, _ := e.meta.GetProject(t.Context(), "app")
	// Queued by a process that stopped before claiming it.
	orphan := &meta.RetentionRun{ProjectID: p.ID, DryRun: true, Trigger: run.TriggerManual}
	if err := rs.CreateRetentionRun(t.Context(), orphan); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, _ := e.svc.GetRun(t.Context(), "app", orphan.ID)
	if got.Status != meta.RunSucceeded || len(e.report(t, orphan.ID)) != 7 {
		t.Fatalf("orphaned run = %+v; want it worked to the end", got)
	}
}

func TestScheduledRun(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	pol, err := e.svc.PutPolicy(t.Context(), "app", run.PolicyInput{Policy: json.RawMessage(policyDoc),
		Schedule: "24h", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().Add(24 * time.Hour); !pol.NextRunAt.Equal(want.Truncate(time.Microsecond)) && !pol.NextRunAt.Equal(want) {
		t.Fatalf("NextRunAt = %v; want %v", pol.NextRunAt, want)
	}
	if err := e.svc.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if runs, _ := e.svc.Runs(t.Context(), "app", 0, 0); len(runs) != 0 {
		t.Fatalf("a run started before the schedule: %+v", runs)
	}
	e.clock.Advance(25 * time.Hour)
	if err := e.svc.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	runs, err := e.svc.Runs(t.Context(), "app", 0, 0)
	if err != nil || len(runs) != 1 || runs[0].Trigger != run.TriggerSchedule || runs[0].Status != meta.RunSucceeded {
		t.Fatalf("runs after the schedule = %+v, %v", runs, err)
	}
	got, _ := e.svc.GetPolicy(t.Context(), "app")
	if !got.NextRunAt.After(e.clock.Now()) {
		t.Fatalf("NextRunAt = %v; want after %v", got.NextRunAt, e.clock.Now())
	}
}

func TestPutPolicyRefuses(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, project, doc, schedule string
		want                         error
	}{
		{"not JSON", "app", `rules`, "", errdefs.ErrInvalid},
		{"bad rule", "app", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"nope"}}]}`, "", errdefs.ErrInvalid},
		{"bad schedule", "app", `{"rules":[]}`, "every day", errdefs.ErrInvalid},
		{"too often", "app", `{"rules":[]}`, "10s", errdefs.ErrInvalid},
		{"no project", "nope", `{"rules":[]}`, "", errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.PutPolicy(t.Context(), tc.project, run.PolicyInput{Policy: json.RawMessage(tc.doc), Schedule: tc.schedule})
			if !errorsIs(err, tc.want) {
				t.Fatalf("PutPolicy = %v; want %v", err, tc.want)
			}
		})
	}
	if _, err := e.svc.Start(t.Context(), "app", true, run.TriggerManual, ""); !errdefs.IsNotFound(err) {
		t.Fatalf("Start without a policy = %v; want not found", err)
	}
}

func TestParseSchedule(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 0, 0, time.UTC)
	tests := []struct {
		in   string
		next time.Time
		str  string
	}{
		{"", time.Time{}, ""},
		{"24h", now.Add(24 * time.Hour), "24h0m0s"},
		{"90m", now.Add(90 * time.Minute), "1h30m0s"},
		{"daily@03:00", time.Date(2026, 5, 7, 3, 0, 0, 0, time.UTC), "daily@03:00"},
		{"daily@23:30", time.Date(2026, 5, 6, 23, 30, 0, 0, time.UTC), "daily@23:30"},
		{"daily@07:08", time.Date(2026, 5, 7, 7, 8, 0, 0, time.UTC), "daily@07:08"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s, err := run.ParseSchedule(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.next, s.Next(now)); diff != "" {
				t.Errorf("Next (-want +got):\n%s", diff)
			}
			if s.String() != tc.str {
				t.Errorf("String = %q; want %q", s.String(), tc.str)
			}
		})
	}
	for _, bad := range []string{"daily@25:00", "daily", "30s", "-1h", "cron"} {
		if _, err := run.ParseSchedule(bad); !errdefs.IsInvalid(err) {
			t.Errorf("ParseSchedule(%q) = %v; want invalid", bad, err)
		}
	}
}
