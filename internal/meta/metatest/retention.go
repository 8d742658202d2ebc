package metatest

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
)

// RunRetention runs the conformance tests of meta.RetentionStore on fresh
// stores from newStore (as Run), which must have that ability (directly or
// through meta.Unwrapper).
func RunRetention(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []test{
		{"PolicyRoundTrip", testRetentionPolicy},
		{"RunLifecycle", testRetentionRuns},
		{"ReportPages", testRetentionReport},
		{"ProjectRepositories", testRetentionRepositories},
		{"Snapshot", testRetentionSnapshot},
		{"TrashSkipsMovedTags", testTrashMoved},
		{"TrashUntaggedOnce", testTrashUntagged},
		{"Restore", testTrashRestore},
		{"PurgeOrder", testPurgeOrder},
		{"PurgeKeepsRepushedAndHeld", testPurgeKeeps},
		{"OneRealRunPerProject", testOneRealRun},
		{"Heartbeat", testRetentionHeartbeat},
		{"BatchCommitsTrashReportProgress", testApplyBatch},
		{"BatchDryRun", testApplyBatchDry},
		{"BatchOfInterruptedRunWritesNothing", testApplyBatchInterrupted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// retention returns the RetentionStore of s or stops the test.
func retention(t *testing.T, s meta.Store) meta.RetentionStore {
	t.Helper()
	rs, ok := meta.RetentionOf(s)
	if !ok {
		t.Fatalf("%T has no meta.RetentionStore", s)
	}
	return rs
}

func testRetentionPolicy(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	p := mustCreateProject(t, s, "platform", false)
	_, err := rs.GetRetentionPolicy(ctx, p.ID)
	wantErr(t, "GetRetentionPolicy before any", err, errdefs.ErrNotFound)
	wantErr(t, "PutRetentionPolicy of a missing project",
		rs.PutRetentionPolicy(ctx, &meta.RetentionPolicy{ProjectID: p.ID + 100, Policy: "{}"}), errdefs.ErrNotFound)
	pol := &meta.RetentionPolicy{ProjectID: p.ID, Policy: `{"rules":[]}`, Schedule: "24h", Enabled: true,
		NextRunAt: at(time.Hour), UpdatedAt: baseTime, UpdatedBy: "alice"}
	if err := rs.PutRetentionPolicy(ctx, pol); err != nil {
		t.Fatalf("PutRetentionPolicy: %v", err)
	}
	got, err := rs.GetRetentionPolicy(ctx, p.ID)
	if err != nil {
		t.Fatalf("GetRetentionPolicy: %v", err)
	}
	diff(t, "GetRetentionPolicy", *pol, *got)
	due, err := rs.ListDueRetentionPolicies(ctx, at(30*time.Minute))
	if err != nil || len(due) != 0 {
		t.Fatalf("ListDueRetentionPolicies before due = %v, %v; want none", due, err)
	}
	if due, err = rs.ListDueRetentionPolicies(ctx, at(time.Hour)); err != nil || len(due) != 1 {
		t.Fatalf("ListDueRetentionPolicies when due = %v, %v; want the policy", due, err)
	}
	if err := rs.SetRetentionNextRun(ctx, p.ID, time.Time{}); err != nil {
		t.Fatalf("SetRetentionNextRun: %v", err)
	}
	if due, err = rs.ListDueRetentionPolicies(ctx, at(48*time.Hour)); err != nil || len(due) != 0 {
		t.Fatalf("ListDueRetentionPolicies without a next run = %v, %v; want none", due, err)
	}
	pol.Enabled, pol.Policy, pol.UpdatedBy = false, `{"rules":[{}]}`, "bob"
	if err := rs.PutRetentionPolicy(ctx, pol); err != nil {
		t.Fatalf("PutRetentionPolicy (replace): %v", err)
	}
	if got, _ = rs.GetRetentionPolicy(ctx, p.ID); got == nil || got.Enabled || got.UpdatedBy != "bob" {
		t.Fatalf("after replace: %+v", got)
	}
	if err := rs.DeleteRetentionPolicy(ctx, p.ID); err != nil {
		t.Fatalf("DeleteRetentionPolicy: %v", err)
	}
	wantErr(t, "DeleteRetentionPolicy twice", rs.DeleteRetentionPolicy(ctx, p.ID), errdefs.ErrNotFound)
	wantErr(t, "SetRetentionNextRun without a policy", rs.SetRetentionNextRun(ctx, p.ID, baseTime), errdefs.ErrNotFound)
}

func mustCreateRun(t *testing.T, rs meta.RetentionStore, projectID int64, dry bool) *meta.RetentionRun {
	t.Helper()
	r := &meta.RetentionRun{ProjectID: projectID, DryRun: dry, Trigger: "manual", CreatedAt: baseTime, CreatedBy: "alice"}
	if err := rs.CreateRetentionRun(t.Context(), r); err != nil {
		t.Fatalf("CreateRetentionRun: %v", err)
	}
	if r.ID == 0 || r.Status != meta.RunQueued {
		t.Fatalf("CreateRetentionRun left ID %d, status %q", r.ID, r.Status)
	}
	return r
}

func testRetentionRuns(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	p := mustCreateProject(t, s, "platform", false)
	wantErr(t, "CreateRetentionRun of a missing project",
		rs.CreateRetentionRun(ctx, &meta.RetentionRun{ProjectID: p.ID + 100, Trigger: "manual"}), errdefs.ErrNotFound)
	first := mustCreateRun(t, rs, p.ID, true)
	second := mustCreateRun(t, rs, p.ID, false)
	queued, err := rs.ListRetentionRunsByStatus(ctx, meta.RunQueued)
	if err != nil || len(queued) != 2 || queued[0].ID != first.ID {
		t.Fatalf("ListRetentionRunsByStatus(queued) = %+v, %v", queued, err)
	}
	ok, err := rs.ClaimRetentionRun(ctx, first.ID, "node-a", at(time.Minute))
	if err != nil || !ok {
		t.Fatalf("ClaimRetentionRun = %v, %v; want true", ok, err)
	}
	if ok, err = rs.ClaimRetentionRun(ctx, first.ID, "node-b", at(time.Minute)); err != nil || ok {
		t.Fatalf("ClaimRetentionRun twice = %v, %v; want false", ok, err)
	}
	first.Status, first.HeartbeatAt = meta.RunRunning, at(2*time.Minute)
	first.Progress = meta.RetentionProgress{RepositoriesDone: 1, RepositoriesTotal: 3, TagsExamined: 10, TagsDeleted: 4}
	if err := rs.UpdateRetentionRun(ctx, first); err != nil {
		t.Fatalf("UpdateRetentionRun: %v", err)
	}
	got, err := rs.GetRetentionRun(ctx, first.ID)
	if err != nil {
		t.Fatalf("GetRetentionRun: %v", err)
	}
	want := *first
	want.StartedAt, want.Owner = at(time.Minute), "node-a"
	diff(t, "GetRetentionRun", want, *got)
	// A fresh heartbeat keeps the run; a stale one gets it interrupted.
	if ok, err := rs.InterruptRetentionRun(ctx, first.ID, at(time.Minute), "stale"); err != nil || ok {
		t.Fatalf("InterruptRetentionRun of a live run = %v, %v; want false", ok, err)
	}
	if ok, err := rs.InterruptRetentionRun(ctx, first.ID, at(time.Hour), "executor gone"); err != nil || !ok {
		t.Fatalf("InterruptRetentionRun of a stale run = %v, %v; want true", ok, err)
	}
	wantErr(t, "UpdateRetentionRun after interruption", rs.UpdateRetentionRun(ctx, first), errdefs.ErrConflict)
	got, _ = rs.GetRetentionRun(ctx, first.ID)
	if got.Status != meta.RunInterrupted || got.Error != "executor gone" || got.FinishedAt.IsZero() {
		t.Fatalf("interrupted run: %+v", got)
	}
	runs, err := rs.ListRetentionRuns(ctx, p.ID, 0, 0)
	if err != nil || len(runs) != 2 || runs[0].ID != second.ID {
		t.Fatalf("ListRetentionRuns = %+v, %v; want newest first", runs, err)
	}
	if runs, _ = rs.ListRetentionRuns(ctx, p.ID, second.ID, 1); len(runs) != 1 || runs[0].ID != first.ID {
		t.Fatalf("ListRetentionRuns before %d = %+v", second.ID, runs)
	}
	_, err = rs.GetRetentionRun(ctx, second.ID+100)
	wantErr(t, "GetRetentionRun of a missing run", err, errdefs.ErrNotFound)
}

func testRetentionReport(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	p := mustCreateProject(t, s, "platform", false)
	run := mustCreateRun(t, rs, p.ID, true)
	var want []meta.RetentionDecision
	for i := range 5 {
		want = append(want, meta.RetentionDecision{Seq: int64(i + 1), Repository: "platform/app",
			Tag: string(rune('a' + i)), Digest: testDigest(string(rune('a' + i))), Rule: i, Reason: "old",
			Outcome: "would delete"})
	}
	if err := rs.AddRetentionReport(ctx, run.ID, want[:3]); err != nil {
		t.Fatalf("AddRetentionReport: %v", err)
	}
	tail := append([]meta.RetentionDecision(nil), want[3:]...)
	for i := range tail {
		tail[i].Seq = 0 // the store numbers them
	}
	if err := rs.AddRetentionReport(ctx, run.ID, tail); err != nil {
		t.Fatalf("AddRetentionReport (more): %v", err)
	}
	// A long append, as a large run writes.
	var long []meta.RetentionDecision
	for i := range 150 {
		d := meta.RetentionDecision{Seq: int64(len(want) + 1), Repository: "platform/big",
			Tag: fmt.Sprintf("t%03d", i), Digest: testDigest(fmt.Sprint(i)), Reason: "old", Outcome: "deleted"}
		want = append(want, d)
		long = append(long, d)
	}
	if err := rs.AddRetentionReport(ctx, run.ID, long); err != nil {
		t.Fatalf("AddRetentionReport (150 lines): %v", err)
	}
	var got []meta.RetentionDecision
	for after := int64(0); ; {
		page, err := rs.ListRetentionReport(ctx, run.ID, after, 40)
		if err != nil {
			t.Fatalf("ListRetentionReport: %v", err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Seq
	}
	diff(t, "report", want, got)
}

func testRetentionRepositories(t *testing.T, s meta.Store) {
	rs := retention(t, s)
	for _, name := range []string{"app", "app/api", "app/web/ui", "app-x", "app0", "apps/api", "ap"} {
		mustRepo(t, s, name)
	}
	repos, err := rs.ListProjectRepositories(t.Context(), "app")
	if err != nil {
		t.Fatalf("ListProjectRepositories: %v", err)
	}
	var names []string
	for _, r := range repos {
		names = append(names, r.Name)
	}
	diff(t, "repositories of app", []string{"app", "app/api", "app/web/ui"}, names)
}

func testRetentionSnapshot(t *testing.T, s meta.Store) {
	rs := retention(t, s)
	repo := mustRepo(t, s, "app/api")
	layer := mustPutBlob(t, s, "layer", 100)
	child := newManifest(repo.ID, "child")
	mustPutManifest(t, s, child, meta.Reference{Digest: layer, Kind: meta.RefBlob, Size: 100})
	index := newManifest(repo.ID, "index")
	index.PushedAt = at(time.Hour)
	mustPutManifest(t, s, index, meta.Reference{Digest: child.Digest, Kind: meta.RefManifest, Size: child.Size})
	sig := newManifest(repo.ID, "sig")
	sig.Subject = index.Digest
	mustPutManifest(t, s, sig)
	mustPutTag(t, s, repo.ID, "v1", index.Digest)
	mustPutTag(t, s, repo.ID, "a", child.Digest)
	tags, ms, err := rs.RetentionSnapshot(t.Context(), repo.ID)
	if err != nil {
		t.Fatalf("RetentionSnapshot: %v", err)
	}
	if len(tags) != 2 || tags[0].Name != "a" || tags[1].Name != "v1" || tags[1].Digest != index.Digest || tags[0].UpdatedAt.IsZero() {
		t.Fatalf("tags = %+v", tags)
	}
	want := []meta.RetentionManifest{
		{Digest: child.Digest, PushedAt: baseTime, Size: child.Size + 100},
		{Digest: index.Digest, PushedAt: at(time.Hour), Children: []digest.Digest{child.Digest}, Size: index.Size + child.Size},
		{Digest: sig.Digest, PushedAt: baseTime, Subject: index.Digest, Size: sig.Size},
	}
	diff(t, "manifests", want, ms, cmpopts.SortSlices(func(a, b meta.RetentionManifest) bool { return a.Digest < b.Digest }))
}

// trash moves entries into the trash or stops the test, returning what
// was skipped.
func trash(t *testing.T, rs meta.RetentionStore, repoID int64, entries ...meta.TrashEntry) []meta.TrashEntry {
	t.Helper()
	skipped, err := rs.TrashTags(t.Context(), repoID, entries)
	if err != nil {
		t.Fatalf("TrashTags: %v", err)
	}
	return skipped
}

func trashTag(tag string, dgst digest.Digest, until time.Time) meta.TrashEntry {
	return meta.TrashEntry{Tag: tag, Digest: dgst, DeletedAt: baseTime, RestorableUntil: until, RunID: 7, Reason: "rule 1"}
}

func testTrashMoved(t *testing.T, s meta.Store) {
	rs := retention(t, s)
	mustCreateProject(t, s, "app", false)
	repo := mustRepo(t, s, "app/api")
	a, b := newManifest(repo.ID, "a"), newManifest(repo.ID, "b")
	mustPutManifest(t, s, a)
	mustPutManifest(t, s, b)
	mustPutTag(t, s, repo.ID, "old", a.Digest)
	mustPutTag(t, s, repo.ID, "moved", b.Digest) // planned when it pointed at a
	skipped := trash(t, rs, repo.ID, trashTag("old", a.Digest, at(time.Hour)),
		trashTag("moved", a.Digest, at(time.Hour)), trashTag("gone", a.Digest, at(time.Hour)))
	if len(skipped) != 2 || skipped[0].Tag != "moved" || skipped[1].Tag != "gone" {
		t.Fatalf("skipped = %+v; want moved and gone", skipped)
	}
	_, err := s.GetTag(t.Context(), repo.ID, "old")
	wantErr(t, "GetTag of a trashed tag", err, errdefs.ErrNotFound)
	if got, _ := s.GetTag(t.Context(), repo.ID, "moved"); got == nil || got.Digest != b.Digest {
		t.Fatalf("moved tag = %+v; want it untouched at %s", got, b.Digest)
	}
	hist, err := s.TagHistory(t.Context(), repo.ID, "old", 1)
	if err != nil || len(hist) != 1 || hist[0].Digest != "" {
		t.Fatalf("history of the trashed tag = %+v, %v; want a deletion", hist, err)
	}
	rows, err := rs.ListTrash(t.Context(), "app", 0, 0)
	if err != nil || len(rows) != 1 {
		t.Fatalf("ListTrash = %+v, %v; want one row", rows, err)
	}
	want := meta.TrashEntry{ID: rows[0].ID, RepositoryID: repo.ID, Repository: "app/api", Tag: "old",
		Digest: a.Digest, DeletedAt: baseTime, RestorableUntil: at(time.Hour), RunID: 7, Reason: "rule 1"}
	diff(t, "trash row", want, rows[0])
}

func testTrashUntagged(t *testing.T, s meta.Store) {
	rs := retention(t, s)
	mustCreateProject(t, s, "app", false)
	repo := mustRepo(t, s, "app/api")
	a, b := newManifest(repo.ID, "a"), newManifest(repo.ID, "b")
	mustPutManifest(t, s, a)
	mustPutManifest(t, s, b)
	mustPutTag(t, s, repo.ID, "latest", b.Digest)
	skipped := trash(t, rs, repo.ID, trashTag("", a.Digest, at(time.Hour)), trashTag("", b.Digest, at(time.Hour)),
		trashTag("", testDigest("never pushed"), at(time.Hour)))
	if len(skipped) != 2 || skipped[0].Digest != b.Digest {
		t.Fatalf("skipped = %+v; want the tagged and the missing manifest", skipped)
	}
	if skipped = trash(t, rs, repo.ID, trashTag("", a.Digest, at(2*time.Hour))); len(skipped) != 0 {
		t.Fatalf("trashing again skipped %+v", skipped)
	}
	rows, _ := rs.ListTrash(t.Context(), "app", 0, 0)
	if len(rows) != 1 || rows[0].Tag != "" || rows[0].Digest != a.Digest {
		t.Fatalf("trash = %+v; want one row for the untagged manifest", rows)
	}
	if _, err := s.GetManifest(t.Context(), repo.ID, a.Digest, false); err != nil {
		t.Fatalf("a trashed untagged manifest must stay until purged: %v", err)
	}
}

func testTrashRestore(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	mustCreateProject(t, s, "app", false)
	repo := mustRepo(t, s, "app/api")
	a, b := newManifest(repo.ID, "a"), newManifest(repo.ID, "b")
	mustPutManifest(t, s, a)
	mustPutManifest(t, s, b)
	for _, tag := range []string{"v1", "v2", "v3"} {
		mustPutTag(t, s, repo.ID, tag, a.Digest)
	}
	trash(t, rs, repo.ID, trashTag("v1", a.Digest, at(time.Hour)), trashTag("v2", a.Digest, at(time.Hour)),
		trashTag("v3", a.Digest, at(time.Hour)), trashTag("", b.Digest, at(time.Hour)))
	if _, err := rs.RestoreTrash(ctx, repo.ID, "v1", ""); err != nil {
		t.Fatalf("RestoreTrash(v1): %v", err)
	}
	if got, err := s.GetTag(ctx, repo.ID, "v1"); err != nil || got.Digest != a.Digest {
		t.Fatalf("restored tag = %+v, %v", got, err)
	}
	_, err := rs.RestoreTrash(ctx, repo.ID, "v1", "")
	wantErr(t, "RestoreTrash twice", err, errdefs.ErrNotFound)
	mustPutTag(t, s, repo.ID, "v2", b.Digest) // re-pushed elsewhere meanwhile
	_, err = rs.RestoreTrash(ctx, repo.ID, "v2", "")
	wantErr(t, "RestoreTrash over a moved tag", err, errdefs.ErrConflict)
	mustPutTag(t, s, repo.ID, "v3", a.Digest) // re-pushed at the same digest
	if _, err := rs.RestoreTrash(ctx, repo.ID, "v3", ""); err != nil {
		t.Fatalf("RestoreTrash of a tag already back: %v", err)
	}
	if _, err := rs.RestoreTrash(ctx, repo.ID, "", b.Digest); err != nil {
		t.Fatalf("RestoreTrash of an untagged manifest: %v", err)
	}
	rows, _ := rs.ListTrash(ctx, "app", 0, 0)
	if len(rows) != 1 || rows[0].Tag != "v2" {
		t.Fatalf("trash after restores = %+v; want only v2 (refused)", rows)
	}
}

func testPurgeOrder(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	mustCreateProject(t, s, "app", false)
	repo := mustRepo(t, s, "app/api")
	amd, arm := newManifest(repo.ID, "amd64"), newManifest(repo.ID, "arm64")
	mustPutManifest(t, s, amd)
	mustPutManifest(t, s, arm)
	index := newManifest(repo.ID, "index")
	mustPutManifest(t, s, index, meta.Reference{Digest: amd.Digest, Kind: meta.RefManifest},
		meta.Reference{Digest: arm.Digest, Kind: meta.RefManifest})
	sig := newManifest(repo.ID, "signature")
	sig.Subject = index.Digest
	mustPutManifest(t, s, sig) // pushed after the run: not in the trash
	mustPutTag(t, s, repo.ID, "v1", index.Digest)
	// Children first in the trash, so the purge must wait for the index.
	trash(t, rs, repo.ID, trashTag("v1", index.Digest, at(time.Hour)))
	trash(t, rs, repo.ID, trashTag("", amd.Digest, at(time.Hour)), trashTag("", arm.Digest, at(time.Hour)))
	res, err := rs.PurgeTrash(ctx, at(30*time.Minute))
	if err != nil || res.Entries != 0 || len(res.Deleted) != 0 {
		t.Fatalf("PurgeTrash before expiry = %+v, %v; want nothing", res, err)
	}
	if res, err = rs.PurgeTrash(ctx, at(2*time.Hour)); err != nil {
		t.Fatalf("PurgeTrash: %v", err)
	}
	if res.Entries != 3 || len(res.Deleted) != 4 {
		t.Fatalf("PurgeTrash = %+v; want 3 rows and 4 manifests (index, children, signature)", res)
	}
	for _, m := range []*meta.Manifest{index, amd, arm, sig} {
		_, err := s.GetManifest(ctx, repo.ID, m.Digest, false)
		wantErr(t, "GetManifest after purge", err, errdefs.ErrNotFound)
	}
}

func testPurgeKeeps(t *testing.T, s meta.Store) {
	ctx, rs := t.Context(), retention(t, s)
	mustCreateProject(t, s, "app", false)
	repo := mustRepo(t, s, "app/api")
	a, b, c := newManifest(repo.ID, "a"), newManifest(repo.ID, "b"), newManifest(repo.ID, "c")
	for _, m := range []*meta.Manifest{a, b, c} {
		mustPutManifest(t, s, m)
	}
	mustPutTag(t, s, repo.ID, "old", a.Digest)
	mustPutTag(t, s, repo.ID, "b1", b.Digest)
	mustPutTag(t, s, repo.ID, "b2", b.Digest)
	trash(t, rs, repo.ID, trashTag("old", a.Digest, at(time.Hour)), trashTag("b1", b.Digest, at(time.Hour)))
	trash(t, rs, repo.ID, trashTag("b2", b.Digest, at(3*time.Hour)), trashTag("", c.Digest, at(time.Hour)))
	sig := newManifest(repo.ID, "signature of b")
	sig.Subject = b.Digest
	mustPutManifest(t, s, sig)
	trash(t, rs, repo.ID, trashTag("", sig.Digest, at(time.Hour))) // follows b, which stays
	mustPutTag(t, s, repo.ID, "again", a.Digest)                   // re-pushed after the trash
	res, err := rs.PurgeTrash(ctx, at(2*time.Hour))
	if err != nil {
		t.Fatalf("PurgeTrash: %v", err)
	}
	if res.Entries != 4 || len(res.Deleted) != 1 || res.Deleted[0].Digest != c.Digest {
		t.Fatalf("PurgeTrash = %+v; want 4 rows dropped and only c deleted", res)
	}
	// a is tagged again, b still restorable as b2, and b's signature
	// follows b.
	for _, m := range []*meta.Manifest{a, b, sig} {
		if _, err := s.GetManifest(ctx, repo.ID, m.Digest, false); err != nil {
			t.Fatalf("GetManifest(%s) after purge: %v", m.Digest, err)
		}
	}
	rows, _ := rs.ListTrash(ctx, "app", 0, 0)
	if diff := cmp.Diff([]string{"b2"}, tagsOf(rows)); diff != "" {
		t.Fatalf("trash after purge (-want +got):\n%s", diff)
	}
}

func tagsOf(rows []meta.TrashEntry) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Tag)
	}
	return out
}
