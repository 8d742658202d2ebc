package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// rtProject and rtRepo are where the retention fixture lives.
const (
	rtProject = "rt"
	rtRepo    = "rt/app"
)

// rtPolicy expires build-0..2 and release-1 (immutable, so it stays) and
// every untagged manifest nothing refers to.
const rtPolicy = `{"rules": [
  {"rulePriority": 1, "description": "old builds and releases",
   "selection": {"tagStatus": "tagged", "tagRegexList": ["build-[0-2]", "release-.*"], "countType": "always"}},
  {"rulePriority": 2, "description": "loose untagged images",
   "selection": {"tagStatus": "untagged", "countType": "always"}}
]}`

// rtKept are the tags the policy keeps.
var rtKept = []string{"build-3", "build-4", "build-5", "release-1", "stable"}

// rtKeptImages are the fixture manifests a kept tag, a kept index or a
// kept subject refers to; rtGoneImages the ones the policy deletes.
var (
	rtKeptImages = []string{"build-3", "build-4", "build-5", "release-1", "stable", "arm64-b", "amd64-c", "sig-stable"}
	rtGoneImages = []string{"build-0", "amd64-a", "build-1", "sig-build-1", "build-2", "untagged"}
)

// expectedDeletions is what a run of rtPolicy deletes from the fixture:
// the tags build-0..2, then the manifests nothing kept refers to any more.
func (r *retentionRepo) expectedDeletions() []string {
	var want []string
	for _, tag := range []string{"build-0", "build-1", "build-2"} {
		want = append(want, rtDecision{Repository: r.repo, Tag: tag, Digest: r.tags[tag].String()}.key())
	}
	for _, name := range rtGoneImages {
		want = append(want, rtDecision{Repository: r.repo, Digest: r.digestOf(name)}.key())
	}
	slices.Sort(want)
	return want
}

// setupRetention starts a server with env, pushes the fixture, makes
// release-* immutable and sets rtPolicy.
func setupRetention(t *testing.T, opts berthtest.ProcessOptions) (*berthtest.Process, *rtAdmin, *retentionRepo) {
	t.Helper()
	p := start(t, opts)
	fx := pushRetentionRepo(t, p.Registry(), rtRepo)
	admin := newRTAdmin(p)
	admin.addImmutable(t, rtProject, "release-*")
	admin.setPolicy(t, rtProject, rtPolicy)
	return p, admin, fx
}

// TestRetentionDryRunEqualsRun: a dry run (through the API, and through
// `berth retention run --dry-run --wait`) lists exactly what the real run
// that follows deletes, and both equal the expected set; afterwards the
// deleted tags are gone, the kept ones (the immutable one among them) pull
// byte-identical, shared children of a kept index stay, and a kept
// subject's signature is still listed by the referrers API.
func TestRetentionDryRunEqualsRun(t *testing.T) {
	t.Parallel()
	p, admin, fx := setupRetention(t, berthtest.ProcessOptions{})
	reg := p.Registry()

	dry := admin.startRun(t, rtProject, true)
	if !dry.DryRun {
		t.Errorf("the dry run is reported as a real run: %+v", dry)
	}
	admin.waitRun(t, rtProject, dry.ID)
	wouldDelete := reportKeys(t, admin.report(t, rtProject, dry.ID), "would delete")
	// The dry run changed nothing.
	tags, err := reg.Tags(t.Context(), rtRepo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sortedKeys(fx.tags), sorted(tags)); diff != "" {
		t.Fatalf("tags after the dry run (-pushed +listed):\n%s", diff)
	}

	// The CLI's dry run says the same.
	env := newToolEnv(t).with("BERTH_CONFIG_DIR=" + filepath.Join(t.TempDir(), "berth"))
	berth := berthBinary(t)
	env.runStdin(t, strings.NewReader(berthtest.AdminPassword+"\n"), berth, "login", p.URL, "-u", berthtest.AdminUser, "--password-stdin")
	var cliLines []rtDecision
	out := env.run(t, berth, "retention", "run", rtProject, "--dry-run", "--wait", "-o", "json")
	if err := json.Unmarshal([]byte(out), &cliLines); err != nil {
		t.Fatalf("berth retention run --dry-run --wait -o json: %v\n%s", err, out)
	}
	if diff := cmp.Diff(wouldDelete, reportKeys(t, cliLines, "would delete")); diff != "" {
		t.Errorf("dry run through the API and through the CLI differ (-API +CLI):\n%s", diff)
	}

	real := admin.startRun(t, rtProject, false)
	done := admin.waitRun(t, rtProject, real.ID)
	deleted := reportKeys(t, admin.report(t, rtProject, real.ID), "deleted")
	if diff := cmp.Diff(wouldDelete, deleted); diff != "" {
		t.Errorf("dry run and real run differ (-would delete +deleted):\n%s", diff)
	}
	if diff := cmp.Diff(fx.expectedDeletions(), deleted); diff != "" {
		t.Errorf("real run deleted (-want +got):\n%s", diff)
	}
	if g := done.Progress; g.TagsDeleted != 3 || g.ManifestsDeleted != int64(len(rtGoneImages)) || g.TagsSkipped != 0 {
		t.Errorf("progress %+v, want 3 tags and %d manifests deleted, none skipped", g, len(rtGoneImages))
	}

	tags, err = reg.Tags(t.Context(), rtRepo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rtKept, sorted(tags)); diff != "" {
		t.Errorf("tags after the run (-want +got):\n%s", diff)
	}
	for _, tag := range rtKept {
		body, _, dgst, err := reg.GetManifest(t.Context(), rtRepo, tag)
		if err != nil {
			t.Errorf("pull kept tag %s: %v", tag, err)
			continue
		}
		if dgst != fx.tags[tag] {
			t.Errorf("kept tag %s resolves to %s, want %s", tag, dgst, fx.tags[tag])
		}
		checkBytes(t, "manifest of "+tag, body, fx.images[tag].Manifest.Data)
	}
	for _, name := range rtKeptImages {
		fx.checkManifestPulls(t, reg, name)
	}
	idx, err := reg.Referrers(t.Context(), rtRepo, fx.images["stable"].Manifest.Desc.Digest, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest.String() != fx.digestOf("sig-stable") {
		t.Errorf("referrers of stable = %+v, want its signature %s", idx.Manifests, fx.digestOf("sig-stable"))
	}
}

// sorted returns a sorted copy of s.
func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestRetentionRestoreAndPurge: within the restore window a deleted tag
// comes back at its digest; once the window has passed, the purge (the
// retention job, which also runs when the server starts) deletes the
// trashed manifests but not the restored one, and garbage collection then
// frees exactly their blobs while every kept image still pulls.
func TestRetentionRestoreAndPurge(t *testing.T) {
	t.Parallel()
	const window = 3 * time.Second
	dataDir := t.TempDir()
	opts := berthtest.ProcessOptions{DataDir: dataDir, Env: []string{
		"BERTH_RETENTION_RESTORE_WINDOW=" + window.String(),
		"BERTH_GC_ENABLED=false",
		"BERTH_GC_GRACE=1s",
		"BERTH_UPLOADS_BLOB_LEASE=1s",
	}}
	p, admin, fx := setupRetention(t, opts)
	ran := time.Now()
	admin.waitRun(t, rtProject, admin.startRun(t, rtProject, false).ID)

	var trashed []string
	for _, e := range admin.trash(t, rtProject) {
		trashed = append(trashed, rtDecision{Repository: e.Repository, Tag: e.Tag, Digest: e.Digest}.key())
	}
	slices.Sort(trashed)
	if diff := cmp.Diff(fx.expectedDeletions(), trashed); diff != "" {
		t.Errorf("trash after the run (-want +got):\n%s", diff)
	}

	// Restore build-2 within the window.
	admin.must(t, "POST", retentionAPI(rtProject)+"/trash/restore",
		map[string]string{"repository": rtRepo, "tag": "build-2"}, nil, http.StatusOK)
	if got, err := p.Registry().HeadManifest(t.Context(), rtRepo, "build-2"); err != nil || got != fx.tags["build-2"] {
		t.Fatalf("restored build-2 resolves to %s, %v; want %s", got, err, fx.tags["build-2"])
	}

	// After the window, restart: the retention job runs at start and
	// purges the trash.
	time.Sleep(time.Until(ran.Add(window + 500*time.Millisecond)))
	if code := p.Stop(); code != 0 {
		t.Fatalf("berth serve exited %d after SIGTERM", code)
	}
	p = berthtest.StartProcess(t, berthBinary(t), opts)
	reg := p.Registry()
	purged := []string{"build-0", "amd64-a", "build-1", "sig-build-1", "untagged"}
	waitManifestGone(t, reg, fx, purged)
	if left := newRTAdmin(p).trash(t, rtProject); len(left) != 0 {
		t.Errorf("trash after the purge holds %+v", left)
	}
	kept := append(slices.Clone(rtKeptImages), "build-2")
	for _, name := range kept {
		fx.checkManifestPulls(t, reg, name)
	}

	// Garbage collection beside the server frees the purged images'
	// blobs, and only those.
	if out, err := exec.Command(berthBinary(t), "gc", "--data-dir", dataDir, "-o", "json").CombinedOutput(); err != nil {
		t.Fatalf("berth gc: %v\n%s", err, out)
	}
	stored := storedDigests(t, filepath.Join(dataDir, "storage"))
	keep := map[digest.Digest]bool{}
	for _, name := range kept {
		for _, c := range fx.images[name].blobs() {
			if c.Data != nil {
				keep[c.Desc.Digest] = true
				if !stored[c.Desc.Digest] {
					t.Errorf("blob %s of kept %s was collected", c.Desc.Digest, name)
				}
			}
		}
	}
	for _, name := range purged {
		for _, c := range fx.images[name].blobs() {
			if c.Data != nil && !keep[c.Desc.Digest] && stored[c.Desc.Digest] {
				t.Errorf("blob %s of purged %s is still stored after GC", c.Desc.Digest, name)
			}
		}
	}
	for _, name := range kept {
		fx.checkManifestPulls(t, reg, name)
	}
}

// waitManifestGone waits (at most 20 s) until the fixture manifests names
// are not found by digest.
func waitManifestGone(t *testing.T, reg *berthtest.Registry, fx *retentionRepo, names []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, name := range names {
		for {
			_, err := reg.HeadManifest(t.Context(), fx.repo, fx.digestOf(name))
			if berthtest.IsStatus(err, http.StatusNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("manifest %s (%s) not purged within 20s after the window: %v", name, fx.digestOf(name), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// The crash test pushes rtCrashRepos × rtCrashTags tags and a policy that
// deletes nine in ten; the server is killed while the run works.
const (
	rtCrashProject = "crashrt"
	rtCrashRepos   = 3
	rtCrashTags    = 800
)

// rtCrashPolicy expires every tag whose number does not end in 0.
const rtCrashPolicy = `{"rules": [
  {"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagRegexList": ["t-[0-9]*[1-9]"], "countType": "always"}}
]}`

// rtCrashKept reports whether the policy keeps tag number i.
func rtCrashKept(i int) bool { return i%10 == 0 }

// TestRetentionCrashMidRun: a SIGKILL in the middle of a real run, then a
// restart on the same data. The killed run is marked interrupted within
// seconds of the restart, and its report and progress count exactly what
// it trashed (a batch's trash, report lines and counters commit together);
// a new run completes; then exactly the tags the policy keeps are left,
// each resolves to its manifest with its blobs, and between them the two
// runs deleted exactly the others.
func TestRetentionCrashMidRun(t *testing.T) {
	t.Parallel()
	bin := berthBinary(t)
	dataDir := t.TempDir()
	opts := berthtest.ProcessOptions{DataDir: dataDir, Env: []string{"BERTH_GC_ENABLED=false"}}
	p := berthtest.StartProcess(t, bin, opts)
	seed := time.Now()
	shared := seedCrashTags(t, p.Registry())
	t.Logf("pushed %d tags in %s", rtCrashRepos*rtCrashTags, time.Since(seed))
	admin := newRTAdmin(p)
	admin.setPolicy(t, rtCrashProject, rtCrashPolicy)

	first := admin.startRun(t, rtCrashProject, false)
	began := time.Now()
	killed := killMidRun(t, p, admin, dataDir, first.ID)
	t.Logf("killed %s after the start, with %d trash rows (of %d) committed", time.Since(began), killed, rtCrashRepos*rtCrashTags*9/10*2)

	p = berthtest.StartProcess(t, bin, opts)
	admin = newRTAdmin(p)
	old := checkKilledRun(t, admin, first.ID)
	second := admin.startRun(t, rtCrashProject, false)
	admin.waitRun(t, rtCrashProject, second.ID)

	reg := p.Registry()
	gotDeleted, byRun := crashTrash(t, admin, old.ID, second.ID)
	var wantDeleted []string
	for r := range rtCrashRepos {
		repo := fmt.Sprintf("%s/app-%d", rtCrashProject, r)
		var wantTags []string
		for i := range rtCrashTags {
			if rtCrashKept(i) {
				wantTags = append(wantTags, fmt.Sprintf("t-%04d", i))
			} else {
				wantDeleted = append(wantDeleted, fmt.Sprintf("%s:t-%04d", repo, i))
			}
		}
		tags, err := reg.Tags(t.Context(), repo)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantTags, sorted(tags)); diff != "" {
			t.Errorf("%s: tags after the crash and the next run (-want +got):\n%s", repo, diff)
		}
		for _, tag := range wantTags {
			want := rtCrashManifest(repo, tag, shared)
			body, _, _, err := reg.GetManifest(t.Context(), repo, tag)
			if err != nil {
				t.Errorf("pull kept %s:%s: %v", repo, tag, err)
				continue
			}
			checkBytes(t, repo+":"+tag, body, want.Data)
		}
		for _, c := range shared {
			got, err := reg.GetBlob(t.Context(), repo, c.Desc.Digest)
			if err != nil {
				t.Fatalf("blob %s of %s: %v", c.Desc.Digest, repo, err)
			}
			checkBytes(t, repo+" blob", got, c.Data)
		}
	}
	slices.Sort(wantDeleted)
	slices.Sort(gotDeleted)
	if diff := cmp.Diff(wantDeleted, gotDeleted); diff != "" {
		t.Errorf("tags the two runs trashed (-want +got):\n%s", diff)
	}
	// Each run's report is exactly what it trashed, the killed one's too,
	// and so are its stored counts.
	for _, run := range []int64{old.ID, second.ID} {
		var reported []string
		for _, l := range admin.report(t, rtCrashProject, run) {
			if l.Outcome != "deleted" {
				t.Errorf("run %d: report line %+v", run, l)
			}
			reported = append(reported, l.key())
		}
		slices.Sort(reported)
		if diff := cmp.Diff(byRun[run], reported); diff != "" {
			t.Errorf("run %d: report and trash differ (-trash +report):\n%s", run, diff)
		}
	}
	if got := old.Progress.TagsDeleted + old.Progress.ManifestsDeleted; got != int64(len(byRun[old.ID])) {
		t.Errorf("the killed run's progress %+v counts %d deletions; it trashed %d", old.Progress, got, len(byRun[old.ID]))
	}
}

// crashTrash returns the tags (repo:tag) in the crash project's trash,
// sorted, and the trash rows of each run as report keys.
func crashTrash(t *testing.T, admin *rtAdmin, runs ...int64) ([]string, map[int64][]string) {
	t.Helper()
	var tags []string
	byRun := map[int64][]string{}
	for _, e := range admin.trash(t, rtCrashProject) {
		if !slices.Contains(runs, e.RunID) {
			t.Errorf("trash row %+v of another run", e)
		}
		if e.Tag != "" {
			tags = append(tags, e.Repository+":"+e.Tag)
		}
		byRun[e.RunID] = append(byRun[e.RunID], rtDecision{Repository: e.Repository, Tag: e.Tag, Digest: e.Digest}.key())
	}
	slices.Sort(tags)
	for _, keys := range byRun {
		slices.Sort(keys)
	}
	return tags, byRun
}
