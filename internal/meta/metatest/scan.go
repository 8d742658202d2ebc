package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
)

// RunScan runs the conformance tests of meta.ScanStore on fresh stores
// from newStore (as Run), which must have that ability (directly or
// through meta.Unwrapper).
func RunScan(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []test{
		{"QueueAndGet", testScanQueue},
		{"QueueForce", testScanQueueForce},
		{"ClaimOrderAndLease", testScanClaim},
		{"Finish", testScanFinish},
		{"FinishAfterTakeover", testScanTakeover},
		{"StaleReports", testScanStale},
		{"Rematch", testScanRematch},
		{"UnscannedManifests", testScanUnscanned},
		{"RequeueByTime", testScanRequeueTime},
		{"RequeueByScanner", testScanRequeueScanner},
		{"DeleteOrphans", testScanOrphans},
		{"Policy", testScanPolicy},
		{"PolicyGoesWithProject", testScanPolicyCascade},
		{"Allowlist", testAllowlist},
		{"AllowlistErrors", testAllowlistErrors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// scanStore returns the ScanStore of s or stops the test.
func scanStore(t *testing.T, s meta.Store) meta.ScanStore {
	t.Helper()
	ss, ok := meta.ScanOf(s)
	if !ok {
		t.Fatalf("%T has no meta.ScanStore", s)
	}
	return ss
}

func mustQueue(t *testing.T, ss meta.ScanStore, force bool, tm time.Time, reqs ...meta.ScanRequest) int {
	t.Helper()
	n, err := ss.QueueScans(t.Context(), reqs, force, tm)
	if err != nil {
		t.Fatalf("QueueScans: %v", err)
	}
	return n
}

func mustClaim(t *testing.T, ss meta.ScanStore, owner string, n int, lease time.Duration, now time.Time) []meta.ScanJob {
	t.Helper()
	jobs, err := ss.ClaimScans(t.Context(), owner, n, lease, now)
	if err != nil {
		t.Fatalf("ClaimScans(%s): %v", owner, err)
	}
	return jobs
}

func mustFinish(t *testing.T, ss meta.ScanStore, r meta.ScanResult) {
	t.Helper()
	if err := ss.FinishScan(t.Context(), r); err != nil {
		t.Fatalf("FinishScan(%s): %v", r.Digest, err)
	}
}

func mustReport(t *testing.T, ss meta.ScanStore, dgst digest.Digest, withData bool) *meta.ScanReport {
	t.Helper()
	r, err := ss.GetScanReport(t.Context(), dgst, withData)
	if err != nil {
		t.Fatalf("GetScanReport(%s): %v", dgst, err)
	}
	return r
}

// scanned gives r.Digest a finished report: it queues it from repo,
// claims it (nothing else may be queued) and stores r, finished at
// r.FinishedAt.
func scanned(t *testing.T, ss meta.ScanStore, repo string, r meta.ScanResult) {
	t.Helper()
	mustQueue(t, ss, true, r.FinishedAt.Add(-time.Minute), meta.ScanRequest{Digest: r.Digest, Repository: repo})
	jobs := mustClaim(t, ss, "fixture", 100, time.Hour, r.FinishedAt.Add(-time.Second))
	if len(jobs) != 1 || jobs[0].Digest != r.Digest {
		t.Fatalf("fixture claimed %v, want only %s", jobs, r.Digest)
	}
	r.Owner = "fixture"
	mustFinish(t, ss, r)
}

// doneResult is a done scan of dgst with an inventory, at generation gen.
func doneResult(dgst digest.Digest, gen int64, finished time.Time) meta.ScanResult {
	return meta.ScanResult{
		Digest: dgst, Status: meta.ScanDone, Scanner: "berth/1", FinishedAt: finished, Generation: gen,
		Summary:   meta.ScanSummary{Critical: 1, High: 2, Medium: 3, Low: 4, Unknown: 5, Fixable: 6, Secrets: 7, Hygiene: 8, Worst: 4},
		Inventory: []byte("inventory of " + string(dgst)), Report: []byte("report of " + string(dgst)),
	}
}

func jobDigests(jobs []meta.ScanJob) []digest.Digest {
	var out []digest.Digest
	for _, j := range jobs {
		out = append(out, j.Digest)
	}
	return out
}

func reportDigests(rs []meta.ScanReport) []digest.Digest {
	var out []digest.Digest
	for _, r := range rs {
		out = append(out, r.Digest)
	}
	return out
}

func testScanQueue(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	a, b := testDigest("a"), testDigest("b")
	_, err := ss.GetScanReport(ctx, a, false)
	wantErr(t, "GetScanReport before any", err, errdefs.ErrNotFound)
	if n := mustQueue(t, ss, false, at(0)); n != 0 {
		t.Errorf("QueueScans() = %d, want 0", n)
	}

	n := mustQueue(t, ss, false, at(0),
		meta.ScanRequest{Digest: a, Repository: "team/one"},
		meta.ScanRequest{Digest: b, Repository: "team/one"},
		meta.ScanRequest{Digest: a, Repository: "team/two"}) // the same digest again: counted once
	if n != 2 {
		t.Errorf("QueueScans(a, b, a) = %d, want 2", n)
	}
	got := mustReport(t, ss, a, true)
	want := &meta.ScanReport{Digest: a, Repository: "team/two", Status: meta.ScanQueued, QueuedAt: at(0)}
	diff(t, "queued report", want, got)
	wantUTC(t, "QueuedAt", got.QueuedAt)

	// A queued report stays in its place in the queue, counts nothing,
	// and takes the repository of the latest request.
	if n := mustQueue(t, ss, false, at(time.Hour), meta.ScanRequest{Digest: b, Repository: "team/three"}); n != 0 {
		t.Errorf("QueueScans of a queued report = %d, want 0", n)
	}
	if n := mustQueue(t, ss, true, at(time.Hour), meta.ScanRequest{Digest: b, Repository: "team/three"}); n != 0 {
		t.Errorf("forced QueueScans of a queued report = %d, want 0", n)
	}
	got = mustReport(t, ss, b, false)
	if got.Status != meta.ScanQueued || got.Repository != "team/three" || !got.QueuedAt.Equal(at(0)) {
		t.Errorf("re-queued queued report = %+v; want queued from team/three at %v", got, at(0))
	}
}

func testScanQueueForce(t *testing.T, s meta.Store) {
	ss := scanStore(t, s)
	d, run := testDigest("done"), testDigest("running")
	scanned(t, ss, "team/app", doneResult(d, 3, at(time.Hour)))
	mustQueue(t, ss, false, at(2*time.Hour), meta.ScanRequest{Digest: run, Repository: "team/app"})
	mustClaim(t, ss, "scanner", 1, 100*time.Hour, at(2*time.Hour))

	for _, dg := range []digest.Digest{d, run} {
		if n := mustQueue(t, ss, false, at(3*time.Hour), meta.ScanRequest{Digest: dg, Repository: "team/other"}); n != 0 {
			t.Errorf("QueueScans(%s) without force = %d, want 0", dg, n)
		}
	}
	if got := mustReport(t, ss, d, false); got.Status != meta.ScanDone || got.Repository != "team/app" {
		t.Errorf("done report after QueueScans without force = %+v; want it left alone", got)
	}

	n := mustQueue(t, ss, true, at(4*time.Hour),
		meta.ScanRequest{Digest: d, Repository: "team/other"},
		meta.ScanRequest{Digest: run, Repository: "team/other"})
	if n != 1 {
		t.Errorf("forced QueueScans(done, running) = %d, want 1", n)
	}
	if got := mustReport(t, ss, run, false); got.Status != meta.ScanRunning || got.Owner != "scanner" {
		t.Errorf("running report after forced QueueScans = %+v; want it left running", got)
	}
	// The old result stays readable until the new one replaces it.
	got := mustReport(t, ss, d, true)
	res := doneResult(d, 3, at(time.Hour))
	if got.Status != meta.ScanQueued || got.Repository != "team/other" || !got.QueuedAt.Equal(at(4*time.Hour)) ||
		got.Attempts != 0 || got.Generation != 3 || got.Summary != res.Summary ||
		string(got.Report) != string(res.Report) || string(got.Inventory) != string(res.Inventory) {
		t.Errorf("forced re-queue = %+v; want queued from team/other at %v, attempts 0, the old result kept",
			got, at(4*time.Hour))
	}
	jobs := mustClaim(t, ss, "scanner", 10, time.Hour, at(5*time.Hour))
	diff(t, "claim after the re-queue", []meta.ScanJob{{Digest: d, Repository: "team/other", Attempts: 1}}, jobs)
}

func testScanClaim(t *testing.T, s meta.Store) {
	ss := scanStore(t, s)
	a, b, c := testDigest("a"), testDigest("b"), testDigest("c")
	// Queued in the order c, a, b, not the digests' order.
	mustQueue(t, ss, false, at(0), meta.ScanRequest{Digest: c, Repository: "r/c"})
	mustQueue(t, ss, false, at(time.Second), meta.ScanRequest{Digest: a, Repository: "r/a"})
	mustQueue(t, ss, false, at(2*time.Second), meta.ScanRequest{Digest: b, Repository: "r/b"})

	if jobs := mustClaim(t, ss, "one", 0, time.Minute, at(time.Minute)); len(jobs) != 0 {
		t.Errorf("ClaimScans(n=0) = %v, want nothing", jobs)
	}
	now := at(time.Minute)
	jobs := mustClaim(t, ss, "one", 2, 10*time.Minute, now)
	diff(t, "first claim", []meta.ScanJob{{Digest: c, Repository: "r/c", Attempts: 1}, {Digest: a, Repository: "r/a", Attempts: 1}}, jobs)
	got := mustReport(t, ss, c, false)
	if got.Status != meta.ScanRunning || got.Owner != "one" || !got.LeaseUntil.Equal(now.Add(10*time.Minute)) ||
		!got.StartedAt.Equal(now) || got.Attempts != 1 {
		t.Errorf("claimed report = %+v; want running for one, started %v, lease until %v", got, now, now.Add(10*time.Minute))
	}
	wantUTC(t, "LeaseUntil", got.LeaseUntil)
	wantUTC(t, "StartedAt", got.StartedAt)

	jobs = mustClaim(t, ss, "two", 5, 10*time.Minute, now.Add(time.Minute))
	diff(t, "second claim", []meta.ScanJob{{Digest: b, Repository: "r/b", Attempts: 1}}, jobs)
	if jobs := mustClaim(t, ss, "two", 5, 10*time.Minute, now.Add(9*time.Minute)); len(jobs) != 0 {
		t.Errorf("claim while every lease holds = %v, want nothing", jobs)
	}

	// The first claim lapses at now+10m; b's lease holds a minute longer.
	jobs = mustClaim(t, ss, "three", 5, 10*time.Minute, now.Add(10*time.Minute))
	diff(t, "claim after the first lease lapsed",
		[]meta.ScanJob{{Digest: c, Repository: "r/c", Attempts: 2}, {Digest: a, Repository: "r/a", Attempts: 2}}, jobs)
	if got := mustReport(t, ss, a, false); got.Owner != "three" || got.Attempts != 2 {
		t.Errorf("report taken over = %+v; want owner three, attempts 2", got)
	}
}

func testScanFinish(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	d, queued := testDigest("image"), testDigest("queued")
	mustQueue(t, ss, false, at(0), meta.ScanRequest{Digest: d, Repository: "team/app"})
	mustClaim(t, ss, "one", 1, time.Hour, at(time.Minute))
	mustQueue(t, ss, false, at(time.Minute), meta.ScanRequest{Digest: queued, Repository: "team/app"})

	res := doneResult(d, 7, at(2*time.Minute))
	res.Owner = "one"
	for _, status := range []string{meta.ScanQueued, meta.ScanRunning, "", "bogus"} {
		bad := res
		bad.Status = status
		wantErr(t, "FinishScan with status "+status, ss.FinishScan(ctx, bad), errdefs.ErrInvalid)
	}
	other := res
	other.Owner = "two"
	wantErr(t, "FinishScan by another owner", ss.FinishScan(ctx, other), errdefs.ErrConflict)
	notRunning := doneResult(queued, 7, at(2*time.Minute))
	notRunning.Owner = "one"
	wantErr(t, "FinishScan of a queued report", ss.FinishScan(ctx, notRunning), errdefs.ErrConflict)
	missing := doneResult(testDigest("missing"), 7, at(2*time.Minute))
	missing.Owner = "one"
	wantErr(t, "FinishScan of no report", ss.FinishScan(ctx, missing), errdefs.ErrConflict)

	mustFinish(t, ss, res)
	got := mustReport(t, ss, d, true)
	want := &meta.ScanReport{Digest: d, Repository: "team/app", Status: meta.ScanDone, Scanner: "berth/1",
		Attempts: 1, QueuedAt: at(0), StartedAt: at(time.Minute), FinishedAt: at(2 * time.Minute),
		Generation: 7, Summary: res.Summary, Inventory: res.Inventory, Report: res.Report}
	diff(t, "finished report", want, got, cmpopts.IgnoreFields(meta.ScanReport{}, "Owner", "LeaseUntil"))
	wantUTC(t, "FinishedAt", got.FinishedAt)
	if got := mustReport(t, ss, d, false); got.Inventory != nil || got.Report != nil || got.Summary != res.Summary {
		t.Errorf("GetScanReport without data = %+v; want the summary, no inventory or report", got)
	}
	wantErr(t, "FinishScan twice", ss.FinishScan(ctx, res), errdefs.ErrConflict)
	if jobs := mustClaim(t, ss, "two", 10, 100*time.Hour, at(24*time.Hour)); len(jobs) != 1 || jobs[0].Digest != queued {
		t.Errorf("claim after the finish = %v; want only the queued report", jobs)
	}

	// A failed scan replaces everything of the old result.
	mustQueue(t, ss, true, at(25*time.Hour), meta.ScanRequest{Digest: d, Repository: "team/app"})
	mustClaim(t, ss, "one", 1, time.Hour, at(25*time.Hour))
	mustFinish(t, ss, meta.ScanResult{Digest: d, Owner: "one", Status: meta.ScanFailed, Scanner: "berth/2",
		Error: "layer unreadable", FinishedAt: at(26 * time.Hour)})
	got = mustReport(t, ss, d, true)
	want = &meta.ScanReport{Digest: d, Repository: "team/app", Status: meta.ScanFailed, Scanner: "berth/2",
		Error: "layer unreadable", Attempts: 1, QueuedAt: at(25 * time.Hour), StartedAt: at(25 * time.Hour),
		FinishedAt: at(26 * time.Hour)}
	diff(t, "failed report", want, got, cmpopts.IgnoreFields(meta.ScanReport{}, "Owner", "LeaseUntil"))
}

func testScanTakeover(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	d := testDigest("image")
	mustQueue(t, ss, false, at(0), meta.ScanRequest{Digest: d, Repository: "team/app"})
	mustClaim(t, ss, "dead", 1, time.Minute, at(0))

	// A lapsed lease nobody took over still lets its owner finish.
	late := doneResult(d, 1, at(2*time.Minute))
	late.Owner = "dead"
	mustFinish(t, ss, late)

	mustQueue(t, ss, true, at(time.Hour), meta.ScanRequest{Digest: d, Repository: "team/app"})
	mustClaim(t, ss, "dead", 1, time.Minute, at(time.Hour))
	jobs := mustClaim(t, ss, "alive", 1, time.Minute, at(time.Hour+time.Minute))
	diff(t, "take-over", []meta.ScanJob{{Digest: d, Repository: "team/app", Attempts: 2}}, jobs)
	stale := doneResult(d, 2, at(time.Hour+2*time.Minute))
	stale.Owner = "dead"
	wantErr(t, "FinishScan by the owner whose claim was taken over", ss.FinishScan(ctx, stale), errdefs.ErrConflict)
	fresh := stale
	fresh.Owner = "alive"
	mustFinish(t, ss, fresh)
	if got := mustReport(t, ss, d, false); got.Status != meta.ScanDone || got.Generation != 2 {
		t.Errorf("report after take-over = %+v; want done at generation 2", got)
	}
}

func testScanStale(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	ds := sortedDigests(testDigest("g1"), testDigest("g2"), testDigest("g3"), testDigest("g4"))
	for i, d := range ds {
		scanned(t, ss, "team/app", doneResult(d, int64(i+1), at(time.Duration(i)*time.Hour)))
	}
	noInv := doneResult(testDigest("external"), 1, at(10*time.Hour))
	noInv.Inventory = nil
	scanned(t, ss, "team/app", noInv)
	failed := doneResult(testDigest("failed"), 1, at(11*time.Hour))
	failed.Status = meta.ScanFailed
	scanned(t, ss, "team/app", failed)
	mustQueue(t, ss, true, at(12*time.Hour), meta.ScanRequest{Digest: ds[0], Repository: "team/app"}) // queued again

	got, err := ss.StaleScanReports(ctx, 4, "", 0)
	if err != nil {
		t.Fatalf("StaleScanReports: %v", err)
	}
	diff(t, "stale reports below generation 4", []digest.Digest{ds[1], ds[2]}, reportDigests(got))
	for _, r := range got {
		if string(r.Inventory) != "inventory of "+string(r.Digest) || r.Report != nil || r.Status != meta.ScanDone {
			t.Errorf("stale report %s = %+v; want done, its inventory and no report", r.Digest, r)
		}
	}
	var paged []digest.Digest
	after := digest.Digest("")
	for range 10 {
		page, err := ss.StaleScanReports(ctx, 100, after, 1)
		if err != nil {
			t.Fatalf("StaleScanReports after %q: %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 1 {
			t.Fatalf("StaleScanReports limit 1 returned %d", len(page))
		}
		paged = append(paged, page[0].Digest)
		after = page[0].Digest
	}
	diff(t, "stale reports in pages of 1", ds[1:], paged)
	if got, err := ss.StaleScanReports(ctx, 2, "", 10); err != nil || len(got) != 0 {
		t.Errorf("StaleScanReports(2) = %v, %v; want nothing (generation 2 is not below 2)", reportDigests(got), err)
	}
}

func testScanRematch(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	old, current, failed := testDigest("old"), testDigest("current"), testDigest("failed")
	scanned(t, ss, "team/app", doneResult(old, 1, at(0)))
	scanned(t, ss, "team/app", doneResult(current, 5, at(time.Hour)))
	f := doneResult(failed, 1, at(2*time.Hour))
	f.Status = meta.ScanFailed
	scanned(t, ss, "team/app", f)

	sum := meta.ScanSummary{Critical: 9, Worst: 4}
	n, err := ss.RematchScans(ctx, []meta.ScanRematch{
		{Digest: old, Generation: 5, Summary: sum, Report: []byte("new report")},
		{Digest: current, Generation: 5, Summary: sum, Report: []byte("not stored")},
		{Digest: failed, Generation: 5, Summary: sum, Report: []byte("not stored")},
		{Digest: testDigest("missing"), Generation: 5, Summary: sum, Report: []byte("not stored")},
	})
	if err != nil || n != 1 {
		t.Fatalf("RematchScans = %d, %v; want 1", n, err)
	}
	got := mustReport(t, ss, old, true)
	if got.Generation != 5 || got.Summary != sum || string(got.Report) != "new report" ||
		string(got.Inventory) != "inventory of "+string(old) || got.Status != meta.ScanDone ||
		!got.FinishedAt.Equal(at(0)) {
		t.Errorf("re-matched report = %+v; want generation 5, the new summary and report, the rest kept", got)
	}
	for _, d := range []digest.Digest{current, failed} {
		if got := mustReport(t, ss, d, true); string(got.Report) != "report of "+string(d) || got.Summary == sum {
			t.Errorf("report %s was changed by RematchScans: %+v", d, got)
		}
	}
	if n, err := ss.RematchScans(ctx, nil); err != nil || n != 0 {
		t.Errorf("RematchScans(nil) = %d, %v; want 0", n, err)
	}
}

func testScanUnscanned(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	za, ab := mustRepo(t, s, "zz/app"), mustRepo(t, s, "aa/app")
	var ds []digest.Digest
	for i, seed := range []string{"one", "two", "three", "four"} {
		m := newManifest(za.ID, seed)
		mustPutManifest(t, s, m)
		if i%2 == 0 {
			m2 := newManifest(ab.ID, seed)
			mustPutManifest(t, s, m2)
		}
		ds = append(ds, m.Digest)
	}
	repoOf := map[digest.Digest]string{ds[0]: "aa/app", ds[1]: "zz/app", ds[2]: "aa/app", ds[3]: "zz/app"}
	scannedDigest := ds[3]
	mustQueue(t, ss, false, at(0), meta.ScanRequest{Digest: scannedDigest, Repository: "zz/app"})
	mustQueue(t, ss, false, at(0), meta.ScanRequest{Digest: testDigest("not stored"), Repository: "zz/app"})

	var want []meta.ScanRequest
	for _, d := range sortedDigests(ds[0], ds[1], ds[2]) {
		want = append(want, meta.ScanRequest{Digest: d, Repository: repoOf[d]})
	}
	got, err := ss.UnscannedManifests(ctx, "", 0)
	if err != nil {
		t.Fatalf("UnscannedManifests: %v", err)
	}
	diff(t, "unscanned manifests", want, got)

	var paged []meta.ScanRequest
	after := digest.Digest("")
	for range 10 {
		page, err := ss.UnscannedManifests(ctx, after, 2)
		if err != nil {
			t.Fatalf("UnscannedManifests after %q: %v", after, err)
		}
		if len(page) > 2 {
			t.Fatalf("UnscannedManifests limit 2 returned %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Digest
	}
	diff(t, "unscanned manifests in pages of 2", want, paged)
}

// requeueFixture stores finished reports: done by berth/1 at 1h and 2h,
// failed by berth/2 at 3h, done by berth/2 at 4h, unsupported by berth/1
// at 0, plus a queued and a running one. It returns the finished digests
// in that order.
func requeueFixture(t *testing.T, ss meta.ScanStore) []digest.Digest {
	t.Helper()
	var ds []digest.Digest
	for i, f := range []struct{ status, scanner string }{
		{meta.ScanDone, "berth/1"}, {meta.ScanDone, "berth/1"}, {meta.ScanFailed, "berth/2"}, {meta.ScanDone, "berth/2"},
	} {
		d := testDigest(string(rune('a' + 3 - i))) // digests not in finish order
		r := doneResult(d, 1, at(time.Duration(i+1)*time.Hour))
		r.Status, r.Scanner = f.status, f.scanner
		scanned(t, ss, "team/app", r)
		ds = append(ds, d)
	}
	unsupported := doneResult(testDigest("unsupported"), 0, at(0))
	unsupported.Status = meta.ScanUnsupported
	scanned(t, ss, "team/app", unsupported)
	mustQueue(t, ss, false, at(5*time.Hour), meta.ScanRequest{Digest: testDigest("running"), Repository: "team/app"})
	mustClaim(t, ss, "scanner", 1, 100*time.Hour, at(5*time.Hour))
	mustQueue(t, ss, false, at(6*time.Hour), meta.ScanRequest{Digest: testDigest("queued"), Repository: "team/app"})
	return ds
}

// statuses returns the status of each digest's report.
func statuses(t *testing.T, ss meta.ScanStore, ds ...digest.Digest) []string {
	t.Helper()
	var out []string
	for _, d := range ds {
		out = append(out, mustReport(t, ss, d, false).Status)
	}
	return out
}

func testScanRequeueTime(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	ds := requeueFixture(t, ss)
	if n, err := ss.RequeueScans(ctx, time.Time{}, "", 100, at(10*time.Hour)); err != nil || n != 0 {
		t.Errorf("RequeueScans with neither criterion = %d, %v; want 0", n, err)
	}
	// Finished before 3h30m: the two done ones and the failed one, oldest
	// first.
	n, err := ss.RequeueScans(ctx, at(3*time.Hour+30*time.Minute), "", 1, at(10*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("RequeueScans limit 1 = %d, %v; want 1", n, err)
	}
	diff(t, "statuses after requeueing one", []string{meta.ScanQueued, meta.ScanDone, meta.ScanFailed, meta.ScanDone},
		statuses(t, ss, ds...))
	n, err = ss.RequeueScans(ctx, at(3*time.Hour+30*time.Minute), "", 100, at(11*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("RequeueScans = %d, %v; want 2", n, err)
	}
	diff(t, "statuses after requeueing", []string{meta.ScanQueued, meta.ScanQueued, meta.ScanQueued, meta.ScanDone},
		statuses(t, ss, ds...))
	diff(t, "statuses of the others", []string{meta.ScanUnsupported, meta.ScanRunning, meta.ScanQueued},
		statuses(t, ss, testDigest("unsupported"), testDigest("running"), testDigest("queued")))
	got := mustReport(t, ss, ds[1], true)
	if !got.QueuedAt.Equal(at(11*time.Hour)) || got.Attempts != 0 || string(got.Report) != "report of "+string(ds[1]) {
		t.Errorf("requeued report = %+v; want queued at %v, attempts 0, the old result kept", got, at(11*time.Hour))
	}
	// The queue now runs: the old queued and running ones, then these.
	jobs := mustClaim(t, ss, "next", 100, time.Hour, at(12*time.Hour))
	diff(t, "claim after requeue", append([]digest.Digest{testDigest("queued"), ds[0]}, sortedDigests(ds[1], ds[2])...),
		jobDigests(jobs))
}

func testScanRequeueScanner(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	ds := requeueFixture(t, ss)
	n, err := ss.RequeueScans(ctx, time.Time{}, "berth/2", 100, at(10*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("RequeueScans(not berth/2) = %d, %v; want 2", n, err)
	}
	diff(t, "statuses after requeueing other scanners'", []string{meta.ScanQueued, meta.ScanQueued, meta.ScanFailed, meta.ScanDone},
		statuses(t, ss, ds...))
	// Either criterion queues a report.
	n, err = ss.RequeueScans(ctx, at(3*time.Hour+30*time.Minute), "berth/2", 100, at(10*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("RequeueScans(before 3h30m or not berth/2) = %d, %v; want 1 (the failed one)", n, err)
	}
	diff(t, "unsupported report", []string{meta.ScanUnsupported}, statuses(t, ss, testDigest("unsupported")))
}

func testScanOrphans(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	repo := mustRepo(t, s, "team/app")
	kept, deleted := newManifest(repo.ID, "kept"), newManifest(repo.ID, "deleted")
	mustPutManifest(t, s, kept)
	mustPutManifest(t, s, deleted)
	scanned(t, ss, "team/app", doneResult(kept.Digest, 1, at(time.Hour)))
	scanned(t, ss, "team/app", doneResult(deleted.Digest, 1, at(2*time.Hour)))
	scanned(t, ss, "team/app", doneResult(testDigest("never stored"), 1, at(3*time.Hour)))
	mustQueue(t, ss, false, at(4*time.Hour), meta.ScanRequest{Digest: testDigest("running"), Repository: "team/app"})
	mustClaim(t, ss, "scanner", 1, time.Hour, at(4*time.Hour))
	mustQueue(t, ss, false, at(5*time.Hour), meta.ScanRequest{Digest: testDigest("queued"), Repository: "team/app"})
	if err := s.DeleteManifest(ctx, repo.ID, deleted.Digest); err != nil {
		t.Fatalf("DeleteManifest: %v", err)
	}

	total := 0
	for range 10 {
		n, err := ss.DeleteOrphanScanReports(ctx, 1)
		if err != nil {
			t.Fatalf("DeleteOrphanScanReports: %v", err)
		}
		if n > 1 {
			t.Fatalf("DeleteOrphanScanReports(1) = %d", n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 3 {
		t.Errorf("DeleteOrphanScanReports removed %d reports, want 3", total)
	}
	for _, d := range []digest.Digest{deleted.Digest, testDigest("never stored"), testDigest("queued")} {
		_, err := ss.GetScanReport(ctx, d, false)
		wantErr(t, "GetScanReport of an orphan", err, errdefs.ErrNotFound)
	}
	mustReport(t, ss, kept.Digest, false)
	if got := mustReport(t, ss, testDigest("running"), false); got.Status != meta.ScanRunning {
		t.Errorf("running orphan = %+v; want it kept running", got)
	}
}

func testScanPolicy(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	p := mustCreateProject(t, s, "platform", false)
	_, err := ss.GetScanPolicy(ctx, p.ID+100)
	wantErr(t, "GetScanPolicy of a missing project", err, errdefs.ErrNotFound)
	wantErr(t, "PutScanPolicy of a missing project",
		ss.PutScanPolicy(ctx, &meta.ScanPolicy{ProjectID: p.ID + 100}), errdefs.ErrNotFound)

	got, err := ss.GetScanPolicy(ctx, p.ID)
	if err != nil {
		t.Fatalf("GetScanPolicy: %v", err)
	}
	def := meta.DefaultScanPolicy(p.ID)
	diff(t, "policy of a project that stored none", &def, got)

	pol := &meta.ScanPolicy{ProjectID: p.ID, ScanOnPush: false, BlockSeverity: 4, Unscanned: "wait",
		WaitSeconds: 30, UpdatedAt: at(time.Hour), UpdatedBy: "alice"}
	if err := ss.PutScanPolicy(ctx, pol); err != nil {
		t.Fatalf("PutScanPolicy: %v", err)
	}
	got, err = ss.GetScanPolicy(ctx, p.ID)
	if err != nil {
		t.Fatalf("GetScanPolicy: %v", err)
	}
	diff(t, "stored policy", pol, got)
	wantUTC(t, "UpdatedAt", got.UpdatedAt)

	repl := &meta.ScanPolicy{ProjectID: p.ID, ScanOnPush: true, Unscanned: "deny", UpdatedBy: "bob"}
	if err := ss.PutScanPolicy(ctx, repl); err != nil {
		t.Fatalf("PutScanPolicy again: %v", err)
	}
	if repl.UpdatedAt.IsZero() {
		t.Error("PutScanPolicy left a zero UpdatedAt")
	}
	got, err = ss.GetScanPolicy(ctx, p.ID)
	if err != nil {
		t.Fatalf("GetScanPolicy: %v", err)
	}
	diff(t, "replaced policy", repl, got)
}

func testScanPolicyCascade(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	p := mustCreateProject(t, s, "gone", false)
	if err := ss.PutScanPolicy(ctx, &meta.ScanPolicy{ProjectID: p.ID, BlockSeverity: 3, Unscanned: "deny"}); err != nil {
		t.Fatalf("PutScanPolicy: %v", err)
	}
	if err := ss.PutAllowlistEntry(ctx, &meta.AllowlistEntry{ProjectID: p.ID, VulnID: "CVE-1"}); err != nil {
		t.Fatalf("PutAllowlistEntry: %v", err)
	}
	if err := s.DeleteProject(ctx, "gone"); err != nil {
		t.Fatalf("DeleteProject: %v", err)
	}
	_, err := ss.GetScanPolicy(ctx, p.ID)
	wantErr(t, "GetScanPolicy of a deleted project", err, errdefs.ErrNotFound)
	if got, err := ss.ListAllowlist(ctx, p.ID); err != nil || len(got) != 0 {
		t.Errorf("ListAllowlist of a deleted project = %v, %v; want nothing", got, err)
	}
	// A project created afterwards (which may get the same id) starts
	// with the default policy.
	q := mustCreateProject(t, s, "new", false)
	got, err := ss.GetScanPolicy(ctx, q.ID)
	if err != nil {
		t.Fatalf("GetScanPolicy: %v", err)
	}
	def := meta.DefaultScanPolicy(q.ID)
	diff(t, "policy of a new project", &def, got)
}

func listAllow(t *testing.T, ss meta.ScanStore, projectID int64) []meta.AllowlistEntry {
	t.Helper()
	got, err := ss.ListAllowlist(t.Context(), projectID)
	if err != nil {
		t.Fatalf("ListAllowlist(%d): %v", projectID, err)
	}
	return got
}

func testAllowlist(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	p := mustCreateProject(t, s, "platform", false)
	other := mustCreateProject(t, s, "other", false)
	entries := []*meta.AllowlistEntry{
		{ProjectID: p.ID, VulnID: "GHSA-xxxx", Reason: "not reachable", CreatedAt: at(0), CreatedBy: "alice"},
		{ProjectID: p.ID, VulnID: "CVE-2024-2", Reason: "vendor fix pending", ExpiresAt: at(48 * time.Hour),
			CreatedAt: at(time.Hour), CreatedBy: "bob"},
		{ProjectID: 0, VulnID: "CVE-2024-2", Reason: "system-wide", CreatedAt: at(2 * time.Hour), CreatedBy: "admin"},
		{ProjectID: other.ID, VulnID: "CVE-2024-9", CreatedAt: at(0)},
	}
	for _, e := range entries {
		if err := ss.PutAllowlistEntry(ctx, e); err != nil {
			t.Fatalf("PutAllowlistEntry(%d, %s): %v", e.ProjectID, e.VulnID, err)
		}
	}
	got := listAllow(t, ss, p.ID)
	diff(t, "project allowlist", []meta.AllowlistEntry{*entries[1], *entries[0]}, got)
	for _, e := range got {
		wantUTC(t, "CreatedAt", e.CreatedAt)
	}
	wantUTC(t, "ExpiresAt", got[0].ExpiresAt)
	diff(t, "system allowlist", []meta.AllowlistEntry{*entries[2]}, listAllow(t, ss, 0))

	// Replace: same key, new content; a zero CreatedAt becomes now.
	repl := &meta.AllowlistEntry{ProjectID: p.ID, VulnID: "CVE-2024-2", Reason: "fixed upstream soon", CreatedBy: "carol"}
	if err := ss.PutAllowlistEntry(ctx, repl); err != nil {
		t.Fatalf("PutAllowlistEntry (replace): %v", err)
	}
	if repl.CreatedAt.IsZero() {
		t.Error("PutAllowlistEntry left a zero CreatedAt")
	}
	diff(t, "project allowlist after the replace", []meta.AllowlistEntry{*repl, *entries[0]}, listAllow(t, ss, p.ID))
	diff(t, "system allowlist after the project's replace", []meta.AllowlistEntry{*entries[2]}, listAllow(t, ss, 0))

	if err := ss.DeleteAllowlistEntry(ctx, p.ID, "CVE-2024-2"); err != nil {
		t.Fatalf("DeleteAllowlistEntry: %v", err)
	}
	diff(t, "project allowlist after the delete", []meta.AllowlistEntry{*entries[0]}, listAllow(t, ss, p.ID))
	diff(t, "system allowlist after the project's delete", []meta.AllowlistEntry{*entries[2]}, listAllow(t, ss, 0))
	if err := ss.DeleteAllowlistEntry(ctx, 0, "CVE-2024-2"); err != nil {
		t.Fatalf("DeleteAllowlistEntry(system): %v", err)
	}
	if got := listAllow(t, ss, 0); len(got) != 0 {
		t.Errorf("system allowlist after its delete = %v, want nothing", got)
	}
	diff(t, "other project's allowlist", []meta.AllowlistEntry{*entries[3]}, listAllow(t, ss, other.ID))
}

func testAllowlistErrors(t *testing.T, s meta.Store) {
	ctx, ss := t.Context(), scanStore(t, s)
	p := mustCreateProject(t, s, "platform", false)
	wantErr(t, "PutAllowlistEntry without a vulnerability id",
		ss.PutAllowlistEntry(ctx, &meta.AllowlistEntry{ProjectID: p.ID}), errdefs.ErrInvalid)
	wantErr(t, "PutAllowlistEntry of a missing project",
		ss.PutAllowlistEntry(ctx, &meta.AllowlistEntry{ProjectID: p.ID + 100, VulnID: "CVE-1"}), errdefs.ErrNotFound)
	wantErr(t, "DeleteAllowlistEntry of none", ss.DeleteAllowlistEntry(ctx, p.ID, "CVE-1"), errdefs.ErrNotFound)
	if err := ss.PutAllowlistEntry(ctx, &meta.AllowlistEntry{ProjectID: 0, VulnID: "CVE-1"}); err != nil {
		t.Fatalf("PutAllowlistEntry(system): %v", err)
	}
	wantErr(t, "DeleteAllowlistEntry of a project entry that is only system-wide",
		ss.DeleteAllowlistEntry(ctx, p.ID, "CVE-1"), errdefs.ErrNotFound)
	wantErr(t, "DeleteAllowlistEntry of another id", ss.DeleteAllowlistEntry(ctx, 0, "cve-1"), errdefs.ErrNotFound)
	if got := listAllow(t, ss, p.ID+100); len(got) != 0 {
		t.Errorf("ListAllowlist of a missing project = %v, want nothing", got)
	}
}
