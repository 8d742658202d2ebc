package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// testOneRealRun checks that a project has at most one unfinished real
// run, while dry runs may overlap it.
func testOneRealRun(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	p := mustCreateProject(t, s, "platform", false)
	other := mustCreateProject(t, s, "other", false)
	real := mustCreateRun(t, rs, p.ID, false)
	second := &meta.RetentionRun{ProjectID: p.ID, Trigger: "manual"}
	wantErr(t, "a second queued real run", rs.CreateRetentionRun(ctx, second), errdefs.ErrConflict)
	mustCreateRun(t, rs, p.ID, true)
	mustCreateRun(t, rs, other.ID, false)
	if ok, err := rs.ClaimRetentionRun(ctx, real.ID, "node-a", at(time.Minute)); err != nil || !ok {
		t.Fatalf("ClaimRetentionRun = %v, %v", ok, err)
	}
	wantErr(t, "a real run while one is running", rs.CreateRetentionRun(ctx, second), errdefs.ErrConflict)
	real.Status, real.FinishedAt, real.HeartbeatAt = meta.RunSucceeded, at(2*time.Minute), at(2*time.Minute)
	if err := rs.UpdateRetentionRun(ctx, real); err != nil {
		t.Fatalf("UpdateRetentionRun: %v", err)
	}
	mustCreateRun(t, rs, p.ID, false) // the first one finished
}

// testRetentionHeartbeat checks that a heartbeat moves HeartbeatAt only,
// and only of a running run.
func testRetentionHeartbeat(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	p := mustCreateProject(t, s, "platform", false)
	r := mustCreateRun(t, rs, p.ID, false)
	wantErr(t, "heartbeat of a queued run", rs.HeartbeatRetentionRun(ctx, r.ID, at(time.Minute)), errdefs.ErrConflict)
	if ok, err := rs.ClaimRetentionRun(ctx, r.ID, "node-a", at(time.Minute)); err != nil || !ok {
		t.Fatalf("ClaimRetentionRun = %v, %v", ok, err)
	}
	r.Status, r.HeartbeatAt = meta.RunRunning, at(2*time.Minute)
	r.Progress = meta.RetentionProgress{TagsDeleted: 3}
	if err := rs.UpdateRetentionRun(ctx, r); err != nil {
		t.Fatalf("UpdateRetentionRun: %v", err)
	}
	if err := rs.HeartbeatRetentionRun(ctx, r.ID, at(3*time.Minute)); err != nil {
		t.Fatalf("HeartbeatRetentionRun: %v", err)
	}
	got, err := rs.GetRetentionRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *r
	want.StartedAt, want.HeartbeatAt, want.Owner = at(time.Minute), at(3*time.Minute), "node-a"
	diff(t, "run after a heartbeat", want, *got)
	if ok, err := rs.InterruptRetentionRun(ctx, r.ID, at(time.Hour), "gone"); err != nil || !ok {
		t.Fatalf("InterruptRetentionRun = %v, %v", ok, err)
	}
	wantErr(t, "heartbeat of an interrupted run", rs.HeartbeatRetentionRun(ctx, r.ID, at(4*time.Minute)), errdefs.ErrConflict)
}

// claimedRun creates a run of a new project "app" and claims it.
func claimedRun(t *testing.T, rs meta.RetentionStore, s meta.Store, dry bool) *meta.RetentionRun {
	t.Helper()
	p := mustCreateProject(t, s, "app", false)
	r := mustCreateRun(t, rs, p.ID, dry)
	if ok, err := rs.ClaimRetentionRun(t.Context(), r.ID, "node-a", at(time.Minute)); err != nil || !ok {
		t.Fatalf("ClaimRetentionRun = %v, %v", ok, err)
	}
	return r
}

// accountAll returns an Account that reports every entry of entries
// (skipped ones as "skipped") and counts them on top of base.
func accountAll(repo string, entries []meta.TrashEntry, base meta.RetentionProgress, outcome string) func([]meta.TrashEntry) ([]meta.RetentionDecision, meta.RetentionProgress) {
	return func(skipped []meta.TrashEntry) ([]meta.RetentionDecision, meta.RetentionProgress) {
		p := base
		isSkipped := map[string]bool{}
		for _, e := range skipped {
			isSkipped[e.Tag] = true
		}
		var lines []meta.RetentionDecision
		for _, e := range entries {
			l := meta.RetentionDecision{Repository: repo, Tag: e.Tag, Digest: e.Digest, Reason: e.Reason, Outcome: outcome}
			if isSkipped[e.Tag] {
				l.Outcome = "skipped"
				p.TagsSkipped++
			} else {
				p.TagsDeleted++
			}
			lines = append(lines, l)
		}
		return lines, p
	}
}

// testApplyBatch checks that a batch's trash rows, report lines and
// progress are stored together, and skipped entries reported as such.
func testApplyBatch(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	r := claimedRun(t, rs, s, false)
	repo := mustRepo(t, s, "app/api")
	a, b := newManifest(repo.ID, "a"), newManifest(repo.ID, "b")
	mustPutManifest(t, s, a)
	mustPutManifest(t, s, b)
	mustPutTag(t, s, repo.ID, "old", a.Digest)
	mustPutTag(t, s, repo.ID, "moved", b.Digest)
	entries := []meta.TrashEntry{trashTag("old", a.Digest, at(time.Hour)), trashTag("moved", a.Digest, at(time.Hour))}
	for i := range entries {
		entries[i].RunID = r.ID
	}
	base := meta.RetentionProgress{RepositoriesTotal: 1, TagsExamined: 2}
	skipped, err := rs.ApplyRetentionBatch(ctx, meta.RetentionBatch{RunID: r.ID, RepositoryID: repo.ID,
		Trash: entries, Account: accountAll("app/api", entries, base, "deleted"), Now: at(5 * time.Minute)})
	if err != nil {
		t.Fatalf("ApplyRetentionBatch: %v", err)
	}
	if len(skipped) != 1 || skipped[0].Tag != "moved" {
		t.Fatalf("skipped = %+v; want moved", skipped)
	}
	rows, err := rs.ListTrash(ctx, "app", 0, 0)
	if err != nil || len(rows) != 1 || rows[0].Tag != "old" || rows[0].RunID != r.ID {
		t.Fatalf("ListTrash = %+v, %v; want the old tag", rows, err)
	}
	report, err := rs.ListRetentionReport(ctx, r.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []meta.RetentionDecision{
		{Seq: 1, Repository: "app/api", Tag: "old", Digest: a.Digest, Reason: "rule 1", Outcome: "deleted"},
		{Seq: 2, Repository: "app/api", Tag: "moved", Digest: a.Digest, Reason: "rule 1", Outcome: "skipped"},
	}
	diff(t, "report", want, report)
	got, err := rs.GetRetentionRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantProgress := meta.RetentionProgress{RepositoriesTotal: 1, TagsExamined: 2, TagsDeleted: 1, TagsSkipped: 1}
	diff(t, "progress", wantProgress, got.Progress)
	if got.Status != meta.RunRunning || !got.HeartbeatAt.Equal(at(5*time.Minute)) {
		t.Fatalf("run after a batch: status %s, heartbeat %v", got.Status, got.HeartbeatAt)
	}
}

// testApplyBatchDry checks that a dry run's batch writes report lines and
// progress without trash.
func testApplyBatchDry(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	r := claimedRun(t, rs, s, true)
	repo := mustRepo(t, s, "app/api")
	a := newManifest(repo.ID, "a")
	mustPutManifest(t, s, a)
	mustPutTag(t, s, repo.ID, "old", a.Digest)
	planned := []meta.TrashEntry{trashTag("old", a.Digest, at(time.Hour))}
	_, err := rs.ApplyRetentionBatch(ctx, meta.RetentionBatch{RunID: r.ID, RepositoryID: repo.ID,
		Account: accountAll("app/api", planned, meta.RetentionProgress{}, "would delete"), Now: at(5 * time.Minute)})
	if err != nil {
		t.Fatalf("ApplyRetentionBatch: %v", err)
	}
	if rows, err := rs.ListTrash(ctx, "app", 0, 0); err != nil || len(rows) != 0 {
		t.Fatalf("ListTrash after a dry batch = %+v, %v; want none", rows, err)
	}
	if _, err := s.GetTag(ctx, repo.ID, "old"); err != nil {
		t.Fatalf("the tag after a dry batch: %v", err)
	}
	report, err := rs.ListRetentionReport(ctx, r.ID, 0, 0)
	if err != nil || len(report) != 1 || report[0].Outcome != "would delete" {
		t.Fatalf("report = %+v, %v; want one would-delete line", report, err)
	}
	got, _ := rs.GetRetentionRun(ctx, r.ID)
	diff(t, "progress", meta.RetentionProgress{TagsDeleted: 1}, got.Progress)
}

// testApplyBatchInterrupted checks that a batch of a run another process
// marked interrupted changes nothing.
func testApplyBatchInterrupted(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	r := claimedRun(t, rs, s, false)
	repo := mustRepo(t, s, "app/api")
	a := newManifest(repo.ID, "a")
	mustPutManifest(t, s, a)
	mustPutTag(t, s, repo.ID, "old", a.Digest)
	if ok, err := rs.InterruptRetentionRun(ctx, r.ID, at(time.Hour), "gone"); err != nil || !ok {
		t.Fatalf("InterruptRetentionRun = %v, %v", ok, err)
	}
	entries := []meta.TrashEntry{trashTag("old", a.Digest, at(time.Hour))}
	_, err := rs.ApplyRetentionBatch(ctx, meta.RetentionBatch{RunID: r.ID, RepositoryID: repo.ID, Trash: entries,
		Account: accountAll("app/api", entries, meta.RetentionProgress{}, "deleted"), Now: at(2 * time.Hour)})
	wantErr(t, "ApplyRetentionBatch of an interrupted run", err, errdefs.ErrConflict)
	if _, err := s.GetTag(ctx, repo.ID, "old"); err != nil {
		t.Fatalf("the tag after a refused batch: %v", err)
	}
	if report, _ := rs.ListRetentionReport(ctx, r.ID, 0, 0); len(report) != 0 {
		t.Fatalf("report after a refused batch = %+v; want none", report)
	}
}
